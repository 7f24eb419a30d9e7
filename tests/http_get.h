// HttpGet(): a plain HTTP/1.0 GET on loopback, for tests of /metrics endpoints.
//
//   std::string response = HttpGet(port, "/metrics");   // status line, headers and body
#ifndef NAS_TESTS_HTTP_GET_H_
#define NAS_TESTS_HTTP_GET_H_

#include <string>

namespace nas {

// HttpGet() returns the whole response, or "" when nothing listens on 127.0.0.1:port.
std::string HttpGet(int port, const std::string& path);

}  // namespace nas

#endif  // NAS_TESTS_HTTP_GET_H_

// HttpGet(): a plain HTTP/1.0 GET on loopback, for tests of /metrics endpoints, and HasLine()
// to look for a whole series line in what they serve.
//
//   std::string response = HttpGet(port, "/metrics");   // status line, headers and body
//   EXPECT_TRUE(HasLine(response, "nas_worker_busy 1"));  // not "nas_worker_busy 10"
#ifndef NAS_TESTS_HTTP_GET_H_
#define NAS_TESTS_HTTP_GET_H_

#include <string>

namespace nas {

// HttpGet() returns the whole response, or "" when nothing listens on 127.0.0.1:port.
std::string HttpGet(int port, const std::string& path);

// HasLine() is true when one line of `text` (without its "\r\n" or "\n") is exactly `line`.
bool HasLine(const std::string& text, const std::string& line);

}  // namespace nas

#endif  // NAS_TESTS_HTTP_GET_H_

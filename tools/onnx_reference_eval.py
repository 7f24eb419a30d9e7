"""A small ONNX evaluator written from the ONNX operator definitions (opset 13), in numpy.

Debian packages no ONNX runtime, and OpenCV's DNN module does not read int8 QDQ graphs
(per-channel DequantizeLinear) nor opset-13 Clip. This module is the independent oracle the
tests and the quickstart use to run the service's ONNX files outside our C++ code: it reads the
file with python3-onnx and computes every operator the way the specification says, in float32,
with QuantizeLinear rounding half to even and saturating.

    import onnx_reference_eval as ore
    logits = ore.run(onnx.load("model.int8.onnx"), images)   # images: N x C x H x W float32

It implements the operators the service's graphs use (Sub, Div, Add, Mul, Resize (linear,
half_pixel), Conv, Relu, Clip, HardSigmoid, GlobalAveragePool, Flatten, Gemm, QuantizeLinear,
DequantizeLinear) and raises NotImplementedError naming any other.
"""
import numpy as np
from onnx import numpy_helper

F32 = np.float32


def _attrs(node):
    out = {}
    for a in node.attribute:
        if a.type == a.INT:
            out[a.name] = a.i
        elif a.type == a.INTS:
            out[a.name] = list(a.ints)
        elif a.type == a.FLOAT:
            out[a.name] = F32(a.f)
        elif a.type == a.STRING:
            out[a.name] = a.s.decode()
    return out


def _per_axis(param, x, axis):
    """A per-tensor (scalar) or per-axis (1-D) quantization parameter shaped to broadcast."""
    if param.ndim == 0 or param.size == 1:
        return param.reshape(())
    shape = [1] * x.ndim
    shape[axis] = param.size
    return param.reshape(shape)


def quantize_linear(x, scale, zero_point, axis=1):
    zp = np.zeros((), np.uint8) if zero_point is None else zero_point
    info = np.iinfo(zp.dtype)
    s = _per_axis(scale.astype(F32), x, axis)
    z = _per_axis(zp.astype(F32), x, axis)
    q = np.rint(x.astype(F32) / s) + z  # np.rint rounds half to even, as the spec says
    return np.clip(q, info.min, info.max).astype(zp.dtype)


def dequantize_linear(x, scale, zero_point, axis=1):
    # int8 and int32 values convert to float32 as C does; (x - zero_point) is exact for int8.
    z = F32(0) if zero_point is None else _per_axis(zero_point.astype(F32), x, axis)
    s = _per_axis(scale.astype(F32), x, axis)
    return (x.astype(F32) - z) * s


def conv(x, w, b, strides, pads, group):
    n, c, h, wd = x.shape
    m, cg, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])))
    sh, sw = strides
    oh = (h + pads[0] + pads[2] - kh) // sh + 1
    ow = (wd + pads[1] + pads[3] - kw) // sw + 1
    out = np.zeros((n, m, oh, ow), F32)
    if group == c and cg == 1 and m == c:  # depthwise: one kernel per channel
        for i in range(kh):
            for j in range(kw):
                patch = xp[:, :, i:i + sh * oh:sh, j:j + sw * ow:sw]
                out += patch * w[None, :, 0, i, j, None, None]
    else:
        mg = m // group
        for g in range(group):
            xs = xp[:, g * cg:(g + 1) * cg]
            if kh == 1 and kw == 1:
                cols = np.ascontiguousarray(xs[:, :, :sh * oh:sh, :sw * ow:sw])
            else:
                cols = np.empty((n, cg, kh, kw, oh, ow), F32)
                for i in range(kh):
                    for j in range(kw):
                        cols[:, :, i, j] = xs[:, :, i:i + sh * oh:sh, j:j + sw * ow:sw]
            wg = w[g * mg:(g + 1) * mg].reshape(mg, -1)
            out[:, g * mg:(g + 1) * mg] = np.matmul(
                wg, cols.reshape(n, cg * kh * kw, oh * ow)).reshape(n, mg, oh, ow)
    if b is not None:
        out += b.astype(F32)[None, :, None, None]
    return out


def _linear_weights(in_size, out_size, scale):
    """Source positions and weights of linear interpolation, half_pixel, clamped at the edges."""
    pos = (np.arange(out_size, dtype=F32) + F32(0.5)) / F32(scale) - F32(0.5)
    pos = np.clip(pos, 0, in_size - 1).astype(F32)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, in_size - 1)
    frac = (pos - lo).astype(F32)
    return lo, hi, frac


def resize(x, scales, mode, transform):
    if mode != "linear" or transform != "half_pixel" or scales[0] != 1 or scales[1] != 1:
        raise NotImplementedError(f"Resize mode={mode} transform={transform} scales={scales}")
    n, c, h, w = x.shape
    oh, ow = int(np.floor(h * scales[2])), int(np.floor(w * scales[3]))
    lo, hi, f = _linear_weights(h, oh, scales[2])
    rows = x[:, :, lo, :] * (1 - f)[None, None, :, None] + x[:, :, hi, :] * f[None, None, :, None]
    lo, hi, f = _linear_weights(w, ow, scales[3])
    return (rows[:, :, :, lo] * (1 - f) + rows[:, :, :, hi] * f).astype(F32)


def run(model, images):
    """The graph's outputs (the first one) for `images`."""
    g = model.graph
    env = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    env[g.input[0].name] = images.astype(F32)
    for node in g.node:
        a = _attrs(node)
        ins = [env[i] if i else None for i in node.input]
        op = node.op_type
        if op == "Sub":
            y = ins[0] - ins[1]
        elif op == "Div":
            y = ins[0] / ins[1]
        elif op == "Add":
            y = ins[0] + ins[1]
        elif op == "Mul":
            y = ins[0] * ins[1]
        elif op == "Relu":
            y = np.maximum(ins[0], F32(0))
        elif op == "Clip":
            y = np.clip(ins[0], ins[1], ins[2])
        elif op == "HardSigmoid":
            y = np.clip(a.get("alpha", F32(0.2)) * ins[0] + a.get("beta", F32(0.5)), 0, 1)
        elif op == "GlobalAveragePool":
            y = ins[0].mean(axis=(2, 3), keepdims=True, dtype=F32)
        elif op == "Flatten":
            y = ins[0].reshape(ins[0].shape[0], -1)
        elif op == "Gemm":
            b = ins[1].T if a.get("transB", 0) else ins[1]
            y = ins[0] @ b + (ins[2] if len(ins) > 2 and ins[2] is not None else 0)
        elif op == "Conv":
            y = conv(ins[0], ins[1], ins[2] if len(ins) > 2 else None, a.get("strides", [1, 1]),
                     a.get("pads", [0, 0, 0, 0]), a.get("group", 1))
        elif op == "Resize":
            y = resize(ins[0], ins[2], a.get("mode", "nearest"),
                       a.get("coordinate_transformation_mode", "half_pixel"))
        elif op == "QuantizeLinear":
            y = quantize_linear(ins[0], ins[1], ins[2] if len(ins) > 2 else None, a.get("axis", 1))
        elif op == "DequantizeLinear":
            y = dequantize_linear(ins[0], ins[1], ins[2] if len(ins) > 2 else None, a.get("axis", 1))
        else:
            raise NotImplementedError(f"operator {op}")
        env[node.output[0]] = y.astype(F32) if y.dtype == np.float64 else y
    return env[g.output[0].name]


def accuracy(model, images_u8, labels, batch=250):
    """Top-1 accuracy of `model` on uint8 images (scaled to [0, 1], the models' input contract)."""
    correct = 0
    for i in range(0, len(labels), batch):
        x = images_u8[i:i + batch].astype(F32) / F32(255)
        correct += int((run(model, x).argmax(1) == labels[i:i + batch]).sum())
    return correct / len(labels)

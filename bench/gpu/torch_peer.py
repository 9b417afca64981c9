#!/usr/bin/env python3
"""PyTorch peer for the Kiln GPU bench (run by bench/gpu.sh where `import torch` works).

Times, with CUDA events after warm-up, the same shapes as the Kiln cases:
  mma_f16_4096 / mma_f16_256: C = A @ B in f16 through cuBLAS (tensor cores, f32 accumulation)
  cnn_train_adam_b64: one eager training step (forward, cross-entropy, backward, Adam) of
    conv32-maxpool-conv64-maxpool-dense128-dense10 on 28x28x1, batch 64 (NHWC data is
    irrelevant to timing; PyTorch uses its default NCHW).
Prints {"device": ..., "ms": {case: milliseconds}} as JSON on stdout.
"""
import json
import sys

import torch


def time_ms(fn, iters=20, warmup=5):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(iters):
        fn()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / iters


def main():
    if not torch.cuda.is_available():
        print(json.dumps({"error": "torch.cuda.is_available() is False"}))
        return 1
    dev = torch.device("cuda")
    torch.manual_seed(0)
    ms = {}
    for n in (256, 4096):
        a = torch.rand(n, n, device=dev, dtype=torch.float16) * 2 - 1
        b = torch.rand(n, n, device=dev, dtype=torch.float16) * 2 - 1
        ms[f"mma_f16_{n}"] = time_ms(lambda: torch.matmul(a, b))

    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 32, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(32, 64, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(1600, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10),
    ).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.rand(64, 1, 28, 28, device=dev)
    y = torch.randint(0, 10, (64,), device=dev)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()

    ms["cnn_train_adam_b64"] = time_ms(step)
    print(json.dumps({"device": torch.cuda.get_device_name(0), "torch": torch.__version__, "ms": ms}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

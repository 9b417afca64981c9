{
  "targets": [
    {
      "target_name": "kiln_cuda",
      "sources": ["kiln_cuda.cc"],
      "cflags_cc": ["-std=c++17", "-O2", "-fexceptions"],
      "libraries": ["-ldl"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}

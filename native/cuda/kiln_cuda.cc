// kiln_cuda: the CUDA driver API for Kiln's CUDA executor, as a Node-API addon.
//
// libcuda.so.1 is dlopen'ed at run time (no link-time CUDA dependency and no CUDA headers needed
// to build), so the addon builds and loads on any machine; without a driver, init() throws
// "CUDA driver not found (libcuda.so.1 could not be loaded): <dlerror>". Written against the
// plain C Node-API (node_api.h), so it needs no npm package to build. Handles (contexts, modules,
// functions, device pointers) cross into JS as BigInt. Every failing driver call throws an Error
// naming the call and the CUresult (name and description).
#include <node_api.h>
#include <dlfcn.h>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

typedef int CUresult;
typedef int CUdevice;
typedef void* CUcontext;
typedef void* CUmodule;
typedef void* CUfunction;
typedef void* CUstream;
typedef unsigned long long CUdeviceptr;

#define CU_FNS(X)                                                                                  \
  X(cuInit, CUresult (*)(unsigned))                                                                \
  X(cuDeviceGetCount, CUresult (*)(int*))                                                          \
  X(cuDeviceGet, CUresult (*)(CUdevice*, int))                                                     \
  X(cuDeviceGetName, CUresult (*)(char*, int, CUdevice))                                           \
  X(cuDeviceGetAttribute, CUresult (*)(int*, int, CUdevice))                                       \
  X(cuDevicePrimaryCtxRetain, CUresult (*)(CUcontext*, CUdevice))                                  \
  X(cuDevicePrimaryCtxRelease_v2, CUresult (*)(CUdevice))                                          \
  X(cuCtxSetCurrent, CUresult (*)(CUcontext))                                                      \
  X(cuCtxSynchronize, CUresult (*)())                                                              \
  X(cuModuleLoadDataEx, CUresult (*)(CUmodule*, const void*, unsigned, int*, void**))              \
  X(cuModuleUnload, CUresult (*)(CUmodule))                                                        \
  X(cuModuleGetFunction, CUresult (*)(CUfunction*, CUmodule, const char*))                        \
  X(cuMemAlloc_v2, CUresult (*)(CUdeviceptr*, size_t))                                             \
  X(cuMemFree_v2, CUresult (*)(CUdeviceptr))                                                       \
  X(cuMemcpyHtoD_v2, CUresult (*)(CUdeviceptr, const void*, size_t))                               \
  X(cuMemcpyDtoH_v2, CUresult (*)(void*, CUdeviceptr, size_t))                                     \
  X(cuMemsetD8_v2, CUresult (*)(CUdeviceptr, unsigned char, size_t))                               \
  X(cuLaunchKernel, CUresult (*)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned,     \
                                 unsigned, unsigned, CUstream, void**, void**))                    \
  X(cuGetErrorName, CUresult (*)(CUresult, const char**))                                          \
  X(cuGetErrorString, CUresult (*)(CUresult, const char**))

#define DECLARE(name, type) using name##_t = type; static name##_t p_##name = nullptr;
CU_FNS(DECLARE)

static void* g_lib = nullptr;
static bool g_initialized = false;

static napi_value Throw(napi_env env, const std::string& msg) {
  napi_throw_error(env, nullptr, msg.c_str());
  return nullptr;
}

static std::string CuError(const char* call, CUresult r) {
  const char* name = "?";
  const char* desc = "?";
  if (p_cuGetErrorName) p_cuGetErrorName(r, &name);
  if (p_cuGetErrorString) p_cuGetErrorString(r, &desc);
  return std::string("CUDA error in ") + call + ": " + name + " (" + std::to_string(r) + "): " + desc;
}

#define CU_CHECK(env, call, expr)                               \
  do {                                                          \
    CUresult r_ = (expr);                                       \
    if (r_ != 0) return Throw(env, CuError(call, r_));          \
  } while (0)

#define NEED_INIT(env) \
  if (!g_initialized) return Throw(env, "kiln_cuda: call init() first")

static bool GetArgs(napi_env env, napi_callback_info info, size_t n, napi_value* argv) {
  size_t argc = n;
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  if (argc < n) {
    Throw(env, "kiln_cuda: expected " + std::to_string(n) + " arguments, got " + std::to_string(argc));
    return false;
  }
  return true;
}

static bool ToU64(napi_env env, napi_value v, uint64_t* out) {
  bool lossless = true;
  if (napi_get_value_bigint_uint64(env, v, out, &lossless) == napi_ok) return true;
  double d;
  if (napi_get_value_double(env, v, &d) == napi_ok && d >= 0) {
    *out = static_cast<uint64_t>(d);
    return true;
  }
  Throw(env, "kiln_cuda: expected a BigInt handle or a non-negative number");
  return false;
}

static bool ToU32(napi_env env, napi_value v, uint32_t* out) {
  if (napi_get_value_uint32(env, v, out) == napi_ok) return true;
  Throw(env, "kiln_cuda: expected a 32-bit unsigned integer");
  return false;
}

static napi_value BigU64(napi_env env, uint64_t x) {
  napi_value v;
  napi_create_bigint_uint64(env, x, &v);
  return v;
}

/** A Buffer / TypedArray / DataView's bytes. */
static bool Bytes(napi_env env, napi_value v, void** data, size_t* len) {
  bool is = false;
  napi_is_typedarray(env, v, &is);
  if (is) {
    napi_typedarray_type type;
    size_t length, offset;
    napi_value ab;
    napi_get_typedarray_info(env, v, &type, &length, data, &ab, &offset);
    size_t elem = 1;
    switch (type) {
      case napi_int16_array: case napi_uint16_array: elem = 2; break;
      case napi_int32_array: case napi_uint32_array: case napi_float32_array: elem = 4; break;
      case napi_float64_array: case napi_bigint64_array: case napi_biguint64_array: elem = 8; break;
      default: elem = 1;
    }
    *len = length * elem;
    return true;
  }
  napi_is_dataview(env, v, &is);
  if (is) {
    napi_value ab;
    size_t offset;
    napi_get_dataview_info(env, v, len, data, &ab, &offset);
    return true;
  }
  Throw(env, "kiln_cuda: expected a TypedArray, Buffer or DataView");
  return false;
}

// init() -> { devices }: loads the driver and calls cuInit(0).
static napi_value Init(napi_env env, napi_callback_info info) {
  if (!g_lib) {
    g_lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!g_lib) {
      const char* e = dlerror();
      return Throw(env, std::string("CUDA driver not found (libcuda.so.1 could not be loaded): ") + (e ? e : "unknown dlopen error"));
    }
#define RESOLVE(name, type)                                                               \
    p_##name = reinterpret_cast<name##_t>(dlsym(g_lib, #name));                                \
    if (!p_##name) return Throw(env, std::string("CUDA driver is too old: libcuda.so.1 has no ") + #name);
    CU_FNS(RESOLVE)
  }
  if (!g_initialized) {
    CU_CHECK(env, "cuInit", p_cuInit(0));
    g_initialized = true;
  }
  int count = 0;
  CU_CHECK(env, "cuDeviceGetCount", p_cuDeviceGetCount(&count));
  napi_value out, n;
  napi_create_object(env, &out);
  napi_create_int32(env, count, &n);
  napi_set_named_property(env, out, "devices", n);
  return out;
}

// device(ordinal) -> { name, major, minor }
static napi_value Device(napi_env env, napi_callback_info info) {
  NEED_INIT(env);
  napi_value argv[1];
  if (!GetArgs(env, info, 1, argv)) return nullptr;
  uint32_t ordinal;
  if (!ToU32(env, argv[0], &ordinal)) return nullptr;
  CUdevice dev;
  CU_CHECK(env, "cuDeviceGet", p_cuDeviceGet(&dev, static_cast<int>(ordinal)));
  char name[256] = {0};
  CU_CHECK(env, "cuDeviceGetName", p_cuDeviceGetName(name, sizeof name - 1, dev));
  int major = 0, minor = 0;
  CU_CHECK(env, "cuDeviceGetAttribute", p_cuDeviceGetAttribute(&major, 75, dev));
  CU_CHECK(env, "cuDeviceGetAttribute", p_cuDeviceGetAttribute(&minor, 76, dev));
  napi_value out, v;
  napi_create_object(env, &out);
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, out, "name", v);
  napi_create_int32(env, major, &v);
  napi_set_named_property(env, out, "major", v);
  napi_create_int32(env, minor, &v);
  napi_set_named_property(env, out, "minor", v);
  return out;
}

// contextCreate(ordinal) -> BigInt: the device's primary context, made current.
static napi_value ContextCreate(napi_env env, napi_callback_info info) {
  NEED_INIT(env);
  napi_value argv[1];
  if (!GetArgs(env, info, 1, argv)) return nullptr;
  uint32_t ordinal;
  if (!ToU32(env, argv[0], &ordinal)) return nullptr;
  CUdevice dev;
  CU_CHECK(env, "cuDeviceGet", p_cuDeviceGet(&dev, static_cast<int>(ordinal)));
  CUcontext ctx;
  CU_CHECK(env, "cuDevicePrimaryCtxRetain", p_cuDevicePrimaryCtxRetain(&ctx, dev));
  CU_CHECK(env, "cuCtxSetCurrent", p_cuCtxSetCurrent(ctx));
  return BigU64(env, reinterpret_cast<uint64_t>(ctx));
}

// contextRelease(ordinal)
static napi_value ContextRelease(napi_env env, napi_callback_info info) {
  NEED_INIT(env);
  napi_value argv[1];
  if (!GetArgs(env, info, 1, argv)) return nullptr;
  uint32_t ordinal;
  if (!ToU32(env, argv[0], &ordinal)) return nullptr;
  CUdevice dev;
  CU_CHECK(env, "cuDeviceGet", p_cuDeviceGet(&dev, static_cast<int>(ordinal)));
  CU_CHECK(env, "cuDevicePrimaryCtxRelease", p_cuDevicePrimaryCtxRelease_v2(dev));
  return nullptr;
}

// moduleLoad(ptxText) -> BigInt; JIT errors are included in the thrown message.
static napi_value ModuleLoad(napi_env env, napi_callback_info info) {
  NEED_INIT(env);
  napi_value argv[1];
  if (!GetArgs(env, info, 1, argv)) return nullptr;
  size_t len = 0;
  if (napi_get_value_string_utf8(env, argv[0], nullptr, 0, &len) != napi_ok) return Throw(env, "kiln_cuda: moduleLoad expects PTX text");
  std::vector<char> ptx(len + 1);
  napi_get_value_string_utf8(env, argv[0], ptx.data(), len + 1, &len);
  std::vector<char> log(16384, 0);
  int opts[2] = {5 /* CU_JIT_ERROR_LOG_BUFFER */, 6 /* CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES */};
  void* vals[2] = {log.data(), reinterpret_cast<void*>(static_cast<uintptr_t>(log.size() - 1))};
  CUmodule mod;
  CUresult r = p_cuModuleLoadDataEx(&mod, ptx.data(), 2, opts, vals);
  if (r != 0) return Throw(env, CuError("cuModuleLoadDataEx", r) + "\n" + log.data());
  return BigU64(env, reinterpret_cast<uint64_t>(mod));
}

static napi_value ModuleUnload(napi_env env, napi_callback_info info) {
  NEED_INIT(env);
  napi_value argv[1];
  if (!GetArgs(env, info, 1, argv)) return nullptr;
  uint64_t mod;
  if (!ToU64(env, argv[0], &mod)) return nullptr;
  CU_CHECK(env, "cuModuleUnload", p_cuModuleUnload(reinterpret_cast<CUmodule>(mod)));
  return nullptr;
}

// getFunction(module, name) -> BigInt
static napi_value GetFunction(napi_env env, napi_callback_info info) {
  NEED_INIT(env);
  napi_value argv[2];
  if (!GetArgs(env, info, 2, argv)) return nullptr;
  uint64_t mod;
  if (!ToU64(env, argv[0], &mod)) return nullptr;
  char name[512];
  size_t len;
  if (napi_get_value_string_utf8(env, argv[1], name, sizeof name, &len) != napi_ok) return Throw(env, "kiln_cuda: getFunction expects a name");
  CUfunction fn;
  CUresult r = p_cuModuleGetFunction(&fn, reinterpret_cast<CUmodule>(mod), name);
  if (r != 0) return Throw(env, CuError("cuModuleGetFunction", r) + " (kernel '" + name + "')");
  return BigU64(env, reinterpret_cast<uint64_t>(fn));
}

// memAlloc(bytes) -> BigInt device pointer (zero-filled)
static napi_value MemAlloc(napi_env env, napi_callback_info info) {
  NEED_INIT(env);
  napi_value argv[1];
  if (!GetArgs(env, info, 1, argv)) return nullptr;
  uint64_t bytes;
  if (!ToU64(env, argv[0], &bytes)) return nullptr;
  CUdeviceptr p = 0;
  CU_CHECK(env, "cuMemAlloc", p_cuMemAlloc_v2(&p, bytes == 0 ? 1 : bytes));
  CU_CHECK(env, "cuMemsetD8", p_cuMemsetD8_v2(p, 0, bytes == 0 ? 1 : bytes));
  return BigU64(env, p);
}

static napi_value MemFree(napi_env env, napi_callback_info info) {
  NEED_INIT(env);
  napi_value argv[1];
  if (!GetArgs(env, info, 1, argv)) return nullptr;
  uint64_t p;
  if (!ToU64(env, argv[0], &p)) return nullptr;
  CU_CHECK(env, "cuMemFree", p_cuMemFree_v2(p));
  return nullptr;
}

// memcpyHtoD(devicePtr, byteOffset, typedArray)
static napi_value MemcpyHtoD(napi_env env, napi_callback_info info) {
  NEED_INIT(env);
  napi_value argv[3];
  if (!GetArgs(env, info, 3, argv)) return nullptr;
  uint64_t p, off;
  void* data;
  size_t len;
  if (!ToU64(env, argv[0], &p) || !ToU64(env, argv[1], &off) || !Bytes(env, argv[2], &data, &len)) return nullptr;
  if (len > 0) CU_CHECK(env, "cuMemcpyHtoD", p_cuMemcpyHtoD_v2(p + off, data, len));
  return nullptr;
}

// memcpyDtoH(typedArray, devicePtr, byteOffset): fills the array.
static napi_value MemcpyDtoH(napi_env env, napi_callback_info info) {
  NEED_INIT(env);
  napi_value argv[3];
  if (!GetArgs(env, info, 3, argv)) return nullptr;
  uint64_t p, off;
  void* data;
  size_t len;
  if (!Bytes(env, argv[0], &data, &len) || !ToU64(env, argv[1], &p) || !ToU64(env, argv[2], &off)) return nullptr;
  if (len > 0) CU_CHECK(env, "cuMemcpyDtoH", p_cuMemcpyDtoH_v2(data, p + off, len));
  return nullptr;
}

// launch(fn, gx, gy, gz, bx, by, bz, sharedBytes, mem, start, end): Kiln's kernel signature
// (u64 mem, u32 start, u32 end), on the default stream.
static napi_value Launch(napi_env env, napi_callback_info info) {
  NEED_INIT(env);
  napi_value argv[11];
  if (!GetArgs(env, info, 11, argv)) return nullptr;
  uint64_t fn, mem;
  uint32_t dims[7], start, end;
  if (!ToU64(env, argv[0], &fn)) return nullptr;
  for (int i = 0; i < 7; i++) if (!ToU32(env, argv[1 + i], &dims[i])) return nullptr;
  if (!ToU64(env, argv[8], &mem) || !ToU32(env, argv[9], &start) || !ToU32(env, argv[10], &end)) return nullptr;
  void* params[3] = {&mem, &start, &end};
  CU_CHECK(env, "cuLaunchKernel", p_cuLaunchKernel(reinterpret_cast<CUfunction>(fn), dims[0], dims[1], dims[2], dims[3], dims[4], dims[5], dims[6], nullptr, params, nullptr));
  return nullptr;
}

static napi_value Synchronize(napi_env env, napi_callback_info info) {
  NEED_INIT(env);
  CU_CHECK(env, "cuCtxSynchronize", p_cuCtxSynchronize());
  return nullptr;
}

static napi_value Module(napi_env env, napi_value exports) {
  struct { const char* name; napi_callback cb; } fns[] = {
    {"init", Init}, {"device", Device}, {"contextCreate", ContextCreate}, {"contextRelease", ContextRelease},
    {"moduleLoad", ModuleLoad}, {"moduleUnload", ModuleUnload}, {"getFunction", GetFunction},
    {"memAlloc", MemAlloc}, {"memFree", MemFree}, {"memcpyHtoD", MemcpyHtoD}, {"memcpyDtoH", MemcpyDtoH},
    {"launch", Launch}, {"synchronize", Synchronize},
  };
  for (auto& f : fns) {
    napi_value v;
    napi_create_function(env, f.name, NAPI_AUTO_LENGTH, f.cb, nullptr, &v);
    napi_set_named_property(env, exports, f.name, v);
  }
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Module)

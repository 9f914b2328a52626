/*
 * Argument checks for the JS-facing methods. Built without C++ exceptions
 * (NAPI_DISABLE_CPP_EXCEPTIONS): a failed check throws a JS TypeError and returns at once,
 * so the method body only ever sees arguments of the right type.
 */
#ifndef RECORDCACHE_MACROS_H
#define RECORDCACHE_MACROS_H

#include <napi.h>

#define THROW_AND_RETURN(env, kind, message)                        \
  do {                                                              \
    Napi::kind::New((env), (message)).ThrowAsJavaScriptException(); \
    return (env).Undefined();                                       \
  } while (0)

#define REQUIRE_ARGUMENT_BUFFER(info, i, var)                                             \
  if ((info).Length() <= (i) || !(info)[i].IsBuffer()) {                                  \
    THROW_AND_RETURN((info).Env(), TypeError, "Expected argument " #i " to be a Buffer"); \
  }                                                                                       \
  Napi::Buffer<uint8_t> var = (info)[i].As<Napi::Buffer<uint8_t>>();

#define REQUIRE_ARGUMENT_INT32ARRAY(info, i, var)                                              \
  if ((info).Length() <= (i) || !(info)[i].IsTypedArray() ||                                   \
      (info)[i].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {                 \
    THROW_AND_RETURN((info).Env(), TypeError, "Expected argument " #i " to be an Int32Array"); \
  }                                                                                            \
  Napi::Int32Array var = (info)[i].As<Napi::Int32Array>();

#define REQUIRE_ARGUMENT_NUMBER(info, i, var)                                             \
  if ((info).Length() <= (i) || !(info)[i].IsNumber()) {                                  \
    THROW_AND_RETURN((info).Env(), TypeError, "Expected argument " #i " to be a number"); \
  }                                                                                       \
  double var = (info)[i].As<Napi::Number>().DoubleValue();

#define REQUIRE_ARGUMENT_INT32(info, i, var)                                                      \
  if ((info).Length() <= (i) || !(info)[i].IsNumber()) {                                          \
    THROW_AND_RETURN((info).Env(), TypeError, "Expected argument " #i " to be a 32-bit integer"); \
  }                                                                                               \
  int32_t var = (info)[i].As<Napi::Number>().Int32Value();

#define REQUIRE_ARGUMENT_STRING(info, i, var)                                             \
  if ((info).Length() <= (i) || !(info)[i].IsString()) {                                  \
    THROW_AND_RETURN((info).Env(), TypeError, "Expected argument " #i " to be a string"); \
  }                                                                                       \
  std::string var = (info)[i].As<Napi::String>().Utf8Value();

#define REQUIRE_ARGUMENT_OBJECT(info, i, var)                                              \
  if ((info).Length() <= (i) || !(info)[i].IsObject()) {                                   \
    THROW_AND_RETURN((info).Env(), TypeError, "Expected argument " #i " to be an object"); \
  }                                                                                        \
  Napi::Object var = (info)[i].As<Napi::Object>();

#define REQUIRE_ARGUMENT_FUNCTION(info, i, var)                                             \
  if ((info).Length() <= (i) || !(info)[i].IsFunction()) {                                  \
    THROW_AND_RETURN((info).Env(), TypeError, "Expected argument " #i " to be a function"); \
  }                                                                                         \
  Napi::Function var = (info)[i].As<Napi::Function>();

#endif

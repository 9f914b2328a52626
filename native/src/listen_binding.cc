/*
 * NativeEngine's listening sockets (engine_binding.h): made and bound here on the JS
 * thread, so errors return to the caller at once, then handed to the I/O thread to accept on.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "engine_binding.h"
#include "macros.h"

namespace recordcache {

namespace {

Napi::Object ErrnoResult(Napi::Env env, int error, const char* syscall) {
  Napi::Object result = Napi::Object::New(env);
  result.Set("errno", Napi::Number::New(env, error));
  result.Set("syscall", Napi::String::New(env, syscall));
  return result;
}

}  // namespace

/*
 * listenTcp(numericHost | "", port, backlog, http?) -> { fd, address, port } | { errno, syscall };
 * with `http` (http_binding.cc), the listener speaks HTTP (http_conn.h).
 */
Napi::Value EngineWrap::ListenTcp(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  REQUIRE_ARGUMENT_STRING(info, 0, host);
  REQUIRE_ARGUMENT_INT32(info, 1, port);
  REQUIRE_ARGUMENT_INT32(info, 2, backlog);
  if (!Alive(env)) return env.Undefined();
  std::shared_ptr<HttpSettings> http;
  if (info.Length() > 3 && info[3].IsObject()) http = HttpSettingsFrom(info[3].As<Napi::Object>());
  sockaddr_storage address{};
  socklen_t length = 0;
  int family = AF_INET6;
  if (host.empty()) {
    sockaddr_in6* any6 = reinterpret_cast<sockaddr_in6*>(&address);
    any6->sin6_family = AF_INET6;
    any6->sin6_addr = in6addr_any;
    any6->sin6_port = htons(static_cast<uint16_t>(port));
    length = sizeof(sockaddr_in6);
  } else if (inet_pton(AF_INET, host.c_str(), &reinterpret_cast<sockaddr_in*>(&address)->sin_addr) == 1) {
    family = AF_INET;
    sockaddr_in* in4 = reinterpret_cast<sockaddr_in*>(&address);
    in4->sin_family = AF_INET;
    in4->sin_port = htons(static_cast<uint16_t>(port));
    length = sizeof(sockaddr_in);
  } else if (inet_pton(AF_INET6, host.c_str(), &reinterpret_cast<sockaddr_in6*>(&address)->sin6_addr) == 1) {
    sockaddr_in6* in6 = reinterpret_cast<sockaddr_in6*>(&address);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(static_cast<uint16_t>(port));
    length = sizeof(sockaddr_in6);
  } else {
    return ErrnoResult(env, EINVAL, "listen");
  }
  int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0 && host.empty()) {
    // No IPv6 here: every interface means every IPv4 interface.
    family = AF_INET;
    memset(&address, 0, sizeof(address));
    sockaddr_in* in4 = reinterpret_cast<sockaddr_in*>(&address);
    in4->sin_family = AF_INET;
    in4->sin_addr.s_addr = htonl(INADDR_ANY);
    in4->sin_port = htons(static_cast<uint16_t>(port));
    length = sizeof(sockaddr_in);
    fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  }
  if (fd < 0) return ErrnoResult(env, errno, "socket");
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (family == AF_INET6 && host.empty()) {
    int zero = 0;
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
  }
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), length) != 0 || listen(fd, backlog) != 0) {
    int error = errno;
    close(fd);
    return ErrnoResult(env, error, "listen");
  }
  sockaddr_storage bound{};
  socklen_t bound_length = sizeof(bound);
  getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &bound_length);
  char text[INET6_ADDRSTRLEN] = {0};
  int bound_port = 0;
  if (bound.ss_family == AF_INET) {
    const sockaddr_in* in4 = reinterpret_cast<const sockaddr_in*>(&bound);
    inet_ntop(AF_INET, &in4->sin_addr, text, sizeof(text));
    bound_port = ntohs(in4->sin_port);
  } else {
    const sockaddr_in6* in6 = reinterpret_cast<const sockaddr_in6*>(&bound);
    inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof(text));
    bound_port = ntohs(in6->sin6_port);
  }
  AddListener(fd, false, "", std::move(http));
  Napi::Object result = Napi::Object::New(env);
  result.Set("address", Napi::String::New(env, text));
  result.Set("port", Napi::Number::New(env, bound_port));
  return result;
}

/* listenUnix(path, backlog) -> { path } | { errno, syscall } */
Napi::Value EngineWrap::ListenUnix(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  REQUIRE_ARGUMENT_STRING(info, 0, path);
  REQUIRE_ARGUMENT_INT32(info, 1, backlog);
  if (!Alive(env)) return env.Undefined();
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.size() >= sizeof(address.sun_path)) return ErrnoResult(env, ENAMETOOLONG, "listen");
  memcpy(address.sun_path, path.c_str(), path.size() + 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return ErrnoResult(env, errno, "socket");
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 || listen(fd, backlog) != 0) {
    int error = errno;
    close(fd);
    return ErrnoResult(env, error, "listen");
  }
  AddListener(fd, true, "unix:" + path);
  Napi::Object result = Napi::Object::New(env);
  result.Set("path", Napi::String::New(env, path));
  return result;
}

/*
 * adopt(fd) -> { fd } | { errno, syscall }: a connected stream socket the application made
 * (records library) joins the engine as if accepted. The engine works on its own duplicate,
 * so the caller closes its descriptor (or destroys its net.Socket) as soon as this returns.
 */
Napi::Value EngineWrap::Adopt(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  REQUIRE_ARGUMENT_INT32(info, 0, fd);
  if (!Alive(env)) return env.Undefined();
  int type = 0;
  socklen_t type_length = sizeof(type);
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &type_length) != 0) return ErrnoResult(env, errno, "getsockopt");
  if (type != SOCK_STREAM) return ErrnoResult(env, ENOTSUP, "getsockopt");
  const int mine = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (mine < 0) return ErrnoResult(env, errno, "fcntl");
  const int flags = fcntl(mine, F_GETFL);
  if (flags < 0 || fcntl(mine, F_SETFL, flags | O_NONBLOCK) != 0) {
    const int error = errno;
    close(mine);
    return ErrnoResult(env, error, "fcntl");
  }
  Command command{CommandKind::AdoptConnection};
  command.fd = mine;
  std::vector<Command> one;
  one.push_back(std::move(command));
  engine_->Push(one);
  Napi::Object result = Napi::Object::New(env);
  result.Set("fd", Napi::Number::New(env, mine));
  return result;
}

void EngineWrap::AddListener(int fd, bool is_unix, std::string label, std::shared_ptr<HttpSettings> http) {
  Command command{CommandKind::AddListener};
  command.fd = fd;
  command.is_unix = is_unix;
  command.label = std::move(label);
  command.http = std::move(http);
  std::vector<Command> one;
  one.push_back(std::move(command));
  engine_->Push(one);
}

/* stopListening(): returns once the I/O thread has closed every listening socket. */
Napi::Value EngineWrap::StopListening(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!Alive(env)) return env.Undefined();
  engine_->PushAndWait(Command(CommandKind::CloseListeners));
  return env.Undefined();
}

}  // namespace recordcache

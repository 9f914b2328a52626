# The native records engine (see src/engine.h). Built by `node-gyp rebuild` from this
# directory; node-addon-api comes from the package's dependencies. Requests are framed by
# the records module's parser, ../kmod/records_parse.c, compiled here as plain C; HTTP requests
# by llhttp, generated from its npm package at configure time (tools/llhttp-generate.js); its
# symbols stay hidden (-fvisibility=hidden), since the node binary exports an llhttp of its own.
{
  "targets": [
    {
      "target_name": "recordcache_native",
      "sources": [
        "src/addon.cc", "src/engine_binding.cc", "src/record_binding.cc", "src/listen_binding.cc",
        "src/engine.cc", "src/loop.cc", "src/connection.cc", "src/out_queue.cc", "src/message_body.cc",
        "src/user_transport.cc", "src/kmod_transport.cc", "src/kmod.cc", "src/record.cc", "src/read_index.cc",
        "src/serve_hits.cc", "src/key_hints.cc", "src/hit_reply.cc", "src/http_parse.cc", "src/http_serve.cc", "src/http_binding.cc",
        "../kmod/records_parse.c",
        "<!@(node tools/llhttp-generate.js gen/llhttp)"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")", "../kmod/include/uapi", "../kmod", "gen/llhttp"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags!": ["-fno-exceptions", "-O3"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17", "-O3"],
      "cflags": ["-O2", "-fvisibility=hidden", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "cflags_c": ["-std=gnu11"],
      "cflags_cc": ["-O2", "-std=c++20", "-fno-exceptions", "-fvisibility=hidden", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "conditions": [
        ["OS!='linux'", { "type": "none", "sources": [] }]
      ]
    }
  ]
}

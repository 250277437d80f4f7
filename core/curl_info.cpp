#include "core/curl_info.hpp"

#include <curl/curl.h>

namespace sockaction {
namespace {

const curl_version_info_data& version_info() {
  return *curl_version_info(CURLVERSION_NOW);
}

}  // namespace

std::string curl_runtime_version() { return version_info().version; }

std::string curl_compiled_version() { return LIBCURL_VERSION; }

std::string curl_features() {
  const auto& info = version_info();
  std::string names;
  // feature_names arrived in libcurl 7.87; older releases only have the bit mask.
#if LIBCURL_VERSION_NUM >= 0x075700
  if (info.age >= CURLVERSION_ELEVENTH && info.feature_names) {
    for (const char* const* name = info.feature_names; *name; ++name) {
      if (!names.empty()) names += ' ';
      names += *name;
    }
    return names;
  }
#endif
  const struct {
    int bit;
    const char* name;
  } known[] = {{CURL_VERSION_IPV6, "IPv6"},     {CURL_VERSION_SSL, "SSL"},
               {CURL_VERSION_LIBZ, "libz"},     {CURL_VERSION_ASYNCHDNS, "AsynchDNS"},
               {CURL_VERSION_HTTP2, "HTTP2"},   {CURL_VERSION_UNIX_SOCKETS, "UnixSockets"},
               {CURL_VERSION_HTTPS_PROXY, "HTTPS-proxy"}};
  for (const auto& feature : known) {
    if (!(info.features & feature.bit)) continue;
    if (!names.empty()) names += ' ';
    names += feature.name;
  }
  return names;
}

const char* curl_poll_name(int what) {
  switch (what) {
    case CURL_POLL_IN: return "IN";
    case CURL_POLL_OUT: return "OUT";
    case CURL_POLL_INOUT: return "INOUT";
    case CURL_POLL_REMOVE: return "REMOVE";
    default: return "?";
  }
}

std::string curl_ssl_version() {
  const char* ssl = version_info().ssl_version;
  return ssl ? ssl : "none";
}

}  // namespace sockaction

// Version and features of the libcurl in use, which benchmarks record beside their numbers.
#pragma once

#include <string>

namespace sockaction {

// libcurl's version at run time, e.g. "7.88.1", and the version the build compiled against.
std::string curl_runtime_version();
std::string curl_compiled_version();

// Space-separated feature names from curl_version_info, e.g. "AsynchDNS HTTP2 IPv6 SSL".
std::string curl_features();

// The name of a socket callback's CURL_POLL_* value, e.g. "INOUT", for traces; "?" for others.
const char* curl_poll_name(int what);

// The TLS library and the resolver, e.g. "OpenSSL/3.0.11", for the report's context.
std::string curl_ssl_version();

}  // namespace sockaction

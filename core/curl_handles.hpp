// Owning wrappers for libcurl's handles.
//
// Destruction order matters: every easy handle must be removed from its multi handle before
// curl_multi_cleanup, and curl_global_cleanup comes after all handles are gone. Holders declare
// the MultiHandle before the EasyHandles, so the easy handles are destroyed (and removed) first.
#pragma once

#include <curl/curl.h>

#include <memory>

namespace sockaction {

struct MultiDeleter {
  void operator()(CURLM* multi) const { curl_multi_cleanup(multi); }
};
struct EasyDeleter {
  void operator()(CURL* easy) const { curl_easy_cleanup(easy); }
};
struct UrlDeleter {
  void operator()(CURLU* url) const { curl_url_cleanup(url); }
};

using MultiHandle = std::unique_ptr<CURLM, MultiDeleter>;
using EasyHandle = std::unique_ptr<CURL, EasyDeleter>;
using UrlHandle = std::unique_ptr<CURLU, UrlDeleter>;

// Calls curl_global_init once per process, the first time it is reached, and aborts with a
// message if that fails. libcurl 7.84 made the call thread-safe, but older releases are not, so
// it runs under C++'s once-only static initialization.
void ensure_curl_global_init();

}  // namespace sockaction

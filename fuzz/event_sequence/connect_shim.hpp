// Keeps the pre-connected sockets usable with libcurl 7.88.0 and 7.88.1, which call connect()
// even when CURLOPT_SOCKOPTFUNCTION returns CURL_SOCKOPT_ALREADY_CONNECTED (see
// fuzz/KNOWN_LIBCURL_FAULTS.md). connect_shim.cpp defines connect() for the whole process: for a
// descriptor registered here it returns 0, because the socketpair is connected already, and it
// passes every other call to the C library. With a libcurl that honors
// CURL_SOCKOPT_ALREADY_CONNECTED the shim is never reached for these descriptors.
#pragma once

namespace sockaction::fuzz::event_sequence {

void register_preconnected(int fd);
void unregister_preconnected(int fd);

}  // namespace sockaction::fuzz::event_sequence

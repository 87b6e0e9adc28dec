// One HTTP exchange through libcurl, loaded with dlopen on first use.
//
// Linking libcurl (or FoundationNetworking, which links it) puts it and
// its ~30 libraries (TLS, Kerberos, LDAP, SSH, …) into the start of every
// discport process: ~10 ms of dynamic loading before `scan` reads a byte.
// Only DICOMweb needs HTTP, so the library is opened when it is first used.
#ifndef DISCPORT_CCURL_H
#define DISCPORT_CCURL_H

#include <stddef.h>

/// The outcome of `discport_http_perform`.
typedef struct {
    /// The final response's status code (after redirects); 0 if none arrived.
    long status;
    /// Every response's header lines as received (malloc'd; free with
    /// `discport_http_response_free`).
    char *headers;
    size_t headers_length;
    /// The body, when no download path was given (malloc'd).
    char *body;
    size_t body_length;
    /// Why the exchange failed, when the result is not 0.
    char error[512];
} discport_http_response;

/// Sends one request and waits for the whole response.
///
/// - `headers`: `count` lines of the form `Name: value`.
/// - `upload_path`: a file sent as the body of a POST, or NULL for a body-less `method`.
/// - `download_path`: a file the body is written to, or NULL to keep it in memory.
/// - `timeout`: seconds to connect, and seconds without a byte before giving up.
///
/// Returns 0 when a response arrived (any status), -1 when the exchange could
/// not start (libcurl missing, a file unreadable), otherwise libcurl's error
/// code; `response->error` says why.
int discport_http_perform(const char *method, const char *url,
                          const char *const *headers, int count,
                          const char *upload_path, const char *download_path,
                          long timeout, discport_http_response *response);

/// Frees the buffers of a response.
void discport_http_response_free(discport_http_response *response);

#endif

#define _GNU_SOURCE
#include "CCurl.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

// libcurl's ABI (curl/curl.h), stable since 7.x: option numbers are the
// type base plus the option's number.
enum {
    OPT_LONG = 0, OPT_POINTER = 10000, OPT_OFF_T = 30000,
    CURLOPT_WRITEDATA = OPT_POINTER + 1,
    CURLOPT_URL = OPT_POINTER + 2,
    CURLOPT_READDATA = OPT_POINTER + 9,
    CURLOPT_ERRORBUFFER = OPT_POINTER + 10,
    CURLOPT_LOW_SPEED_LIMIT = OPT_LONG + 19,
    CURLOPT_LOW_SPEED_TIME = OPT_LONG + 20,
    CURLOPT_HTTPHEADER = OPT_POINTER + 23,
    CURLOPT_HEADERDATA = OPT_POINTER + 29,
    CURLOPT_CUSTOMREQUEST = OPT_POINTER + 36,
    CURLOPT_POST = OPT_LONG + 47,
    CURLOPT_FOLLOWLOCATION = OPT_LONG + 52,
    CURLOPT_MAXREDIRS = OPT_LONG + 68,
    CURLOPT_CONNECTTIMEOUT = OPT_LONG + 78,
    CURLOPT_NOSIGNAL = OPT_LONG + 99,
    CURLOPT_POSTFIELDSIZE_LARGE = OPT_OFF_T + 120,
    CURLINFO_RESPONSE_CODE = 0x200000 + 2,
    CURL_GLOBAL_ALL = 3,
    CURL_ERROR_SIZE = 256,
};

struct curl_slist;

static struct {
    void *library;
    int (*global_init)(long);
    void *(*easy_init)(void);
    int (*easy_setopt)(void *, int, ...);
    int (*easy_perform)(void *);
    int (*easy_getinfo)(void *, int, ...);
    void (*easy_cleanup)(void *);
    const char *(*easy_strerror)(int);
    struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
    void (*slist_free_all)(struct curl_slist *);
    char failure[256];
} curl;

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_load(void) {
#if defined(__APPLE__)
    const char *names[] = {"libcurl.4.dylib", "libcurl.dylib"};
#else
    const char *names[] = {"libcurl.so.4", "libcurl.so"};
#endif
    for (size_t i = 0; i < sizeof names / sizeof names[0] && !curl.library; i++) {
        curl.library = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    }
    if (!curl.library) {
        snprintf(curl.failure, sizeof curl.failure,
                 "DICOMweb needs libcurl (%s); install it (Debian: apt-get install libcurl4)", names[0]);
        return;
    }
#define LOAD(field, symbol) *(void **)&curl.field = dlsym(curl.library, symbol)
    LOAD(global_init, "curl_global_init");
    LOAD(easy_init, "curl_easy_init");
    LOAD(easy_setopt, "curl_easy_setopt");
    LOAD(easy_perform, "curl_easy_perform");
    LOAD(easy_getinfo, "curl_easy_getinfo");
    LOAD(easy_cleanup, "curl_easy_cleanup");
    LOAD(easy_strerror, "curl_easy_strerror");
    LOAD(slist_append, "curl_slist_append");
    LOAD(slist_free_all, "curl_slist_free_all");
#undef LOAD
    if (!curl.global_init || !curl.easy_init || !curl.easy_setopt || !curl.easy_perform || !curl.easy_getinfo ||
        !curl.easy_cleanup || !curl.easy_strerror || !curl.slist_append || !curl.slist_free_all) {
        snprintf(curl.failure, sizeof curl.failure, "%s is not a usable libcurl", names[0]);
        dlclose(curl.library);
        curl.library = NULL;
        return;
    }
    if (curl.global_init(CURL_GLOBAL_ALL) != 0) {
        snprintf(curl.failure, sizeof curl.failure, "libcurl could not initialise");
        curl.library = NULL;
    }
}

int discport_http_perform(const char *method, const char *url,
                          const char *const *headers, int count,
                          const char *upload_path, const char *download_path,
                          long timeout, discport_http_response *response) {
    memset(response, 0, sizeof *response);
    pthread_once(&curl_once, curl_load);
    if (!curl.library) {
        snprintf(response->error, sizeof response->error, "%s", curl.failure);
        return -1;
    }

    int result = -1;
    void *handle = NULL;
    struct curl_slist *list = NULL;
    FILE *upload = NULL, *body = NULL, *head = NULL;
    char *body_buffer = NULL, *head_buffer = NULL;
    size_t body_size = 0, head_size = 0;
    char detail[CURL_ERROR_SIZE] = "";

    long long upload_size = 0;
    if (upload_path) {
        struct stat info;
        if (!(upload = fopen(upload_path, "rb")) || fstat(fileno(upload), &info) != 0) {
            snprintf(response->error, sizeof response->error, "cannot read %s", upload_path);
            goto done;
        }
        upload_size = (long long)info.st_size;
    }
    body = download_path ? fopen(download_path, "wb") : open_memstream(&body_buffer, &body_size);
    head = open_memstream(&head_buffer, &head_size);
    if (!body || !head) {
        snprintf(response->error, sizeof response->error, "cannot write %s", download_path ? download_path : "the response");
        goto done;
    }
    if (!(handle = curl.easy_init())) {
        snprintf(response->error, sizeof response->error, "libcurl could not start a transfer");
        goto done;
    }
    for (int i = 0; i < count; i++) list = curl.slist_append(list, headers[i]);
    // No "Expect: 100-continue" round trip before a STOW body.
    list = curl.slist_append(list, "Expect:");

    curl.easy_setopt(handle, CURLOPT_URL, url);
    curl.easy_setopt(handle, CURLOPT_HTTPHEADER, list);
    curl.easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);
    curl.easy_setopt(handle, CURLOPT_FOLLOWLOCATION, 1L);
    curl.easy_setopt(handle, CURLOPT_MAXREDIRS, 5L);
    curl.easy_setopt(handle, CURLOPT_CONNECTTIMEOUT, timeout);
    curl.easy_setopt(handle, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl.easy_setopt(handle, CURLOPT_LOW_SPEED_TIME, timeout);
    curl.easy_setopt(handle, CURLOPT_ERRORBUFFER, detail);
    // Without write functions libcurl fwrite()s to these FILEs (and freads the upload).
    curl.easy_setopt(handle, CURLOPT_WRITEDATA, body);
    curl.easy_setopt(handle, CURLOPT_HEADERDATA, head);
    if (upload) {
        curl.easy_setopt(handle, CURLOPT_POST, 1L);
        curl.easy_setopt(handle, CURLOPT_READDATA, upload);
        curl.easy_setopt(handle, CURLOPT_POSTFIELDSIZE_LARGE, upload_size);
    }
    if (strcmp(method, upload ? "POST" : "GET") != 0) curl.easy_setopt(handle, CURLOPT_CUSTOMREQUEST, method);

    result = curl.easy_perform(handle);
    if (result == 0) {
        curl.easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &response->status);
    } else {
        // The error buffer says more than the code's text (host, port, reason).
        snprintf(response->error, sizeof response->error, "%s", detail[0] ? detail : curl.easy_strerror(result));
    }

done:
    if (handle) curl.easy_cleanup(handle);
    if (list) curl.slist_free_all(list);
    if (upload) fclose(upload);
    if (body && fclose(body) != 0 && result == 0) {
        snprintf(response->error, sizeof response->error, "cannot write %s", download_path ? download_path : "the response");
        result = -1;
    }
    if (head) fclose(head);
    response->body = body_buffer;
    response->body_length = body_size;
    response->headers = head_buffer;
    response->headers_length = head_size;
    return result;
}

void discport_http_response_free(discport_http_response *response) {
    free(response->body);
    free(response->headers);
    response->body = NULL;
    response->headers = NULL;
}

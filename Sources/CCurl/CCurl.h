// libcurl (Debian's libcurl4-openssl-dev), for the few outbound HTTPS requests the gateway makes to identity
// providers (discovery, JWKS, token endpoint). Only GatehouseIO/HTTPClient imports this module.
//
// curl_easy_setopt and curl_easy_getinfo are C variadic functions, which Swift cannot call; these inline
// functions give each argument type a callable form.
#include <stddef.h>
#include <curl/curl.h>

typedef size_t (*gh_curl_data_fn)(char *data, size_t size, size_t count, void *context);

static inline CURLcode gh_curl_set_long(CURL *handle, CURLoption option, long value) {
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode gh_curl_set_string(CURL *handle, CURLoption option, const char *value) {
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode gh_curl_set_pointer(CURL *handle, CURLoption option, void *value) {
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode gh_curl_set_data_fn(CURL *handle, CURLoption option, gh_curl_data_fn value) {
    return curl_easy_setopt(handle, option, value);
}

static inline long gh_curl_response_code(CURL *handle) {
    long code = 0;
    if (curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &code) != CURLE_OK) return 0;
    return code;
}

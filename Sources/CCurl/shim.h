// libcurl (libcurl4-openssl-dev).
#include <curl/curl.h>

// Macros that alias enum values are not imported into Swift.
static const CURLversion CCurl_VERSION_NOW = CURLVERSION_NOW;

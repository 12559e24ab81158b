// libcurl (libcurl4-openssl-dev).
#include <curl/curl.h>

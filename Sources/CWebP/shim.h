// libwebp (libwebp-dev): decoding only.
#include <webp/decode.h>

// libspng (libspng-dev). Chosen over libpng for decoding because it reports errors as return
// values: libpng's png_error must longjmp, which Swift cannot do.
#include <spng.h>

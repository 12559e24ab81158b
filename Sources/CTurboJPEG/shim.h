// libjpeg-turbo's TurboJPEG API (libturbojpeg0-dev). Chosen over jpeglib.h for decoding because
// it reports errors as return values: jpeglib's error_exit must longjmp, which Swift cannot do.
#include <turbojpeg.h>

/* CharLS 2.x C API (libcharls-dev): JPEG-LS decoding. */
#include <charls/charls.h>

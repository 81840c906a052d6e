// tinygmm firmware: classifies feature vectors that arrive over serial with the model of
// include/GMM.h. The firmware itself is the library's tinygmm_firmware.h (lib/tinygmm/src),
// the same source `tinygmm classify --port native|simavr` builds from an installed package.
#include "tinygmm_firmware.h"

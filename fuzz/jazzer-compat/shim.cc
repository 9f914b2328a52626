/*
 * What Jazzer.js's prebuilt fuzzer (@jazzer.js/fuzzer 4.0.0, built against glibc 2.38 and
 * GCC 13's libstdc++) calls that Debian 12 (glibc 2.36, libstdc++ of GCC 12) lacks.
 * fuzz/jazzer-compat/patch.sh links the prebuilt fuzzer to this library instead.
 */
#include <cstdlib>
#include <ios>

/* C23's strtol and strtoul differ from C17's only in reading a "0b" prefix with base 0 or 2. */
extern "C" long __isoc23_strtol(const char* s, char** end, int base) { return strtol(s, end, base); }
extern "C" unsigned long __isoc23_strtoul(const char* s, char** end, int base) { return strtoul(s, end, base); }

namespace std {
/* GCC 13 initialises the standard streams through this instead of a static ios_base::Init. */
void ios_base_library_init() { static ios_base::Init init; }
}  // namespace std

#include "allocator.h"

#include <cstdlib>

#ifdef SLUICE_MIMALLOC
#include <mimalloc.h>
#endif

namespace Sluice {

QString allocatorDescription()
{
#ifdef SLUICE_MIMALLOC
    const int version = mi_version(); // major * 100 + minor * 10 + patch, e.g. 209
    const QString name =
        QStringLiteral("mimalloc %1.%2.%3").arg(version / 100).arg(version / 10 % 10).arg(version % 10);
    // Asks mimalloc whether plain malloc() handed out its memory: true only when the dynamic linker
    // bound malloc to it, which is the point of linking it.
    void *probe = std::malloc(64);
    const bool inUse = mi_is_in_heap_region(probe);
    std::free(probe);
    return inUse ? name : name + QStringLiteral(" (linked, not in use)");
#else
    return QStringLiteral("system malloc");
#endif
}

} // namespace Sluice

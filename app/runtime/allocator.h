#pragma once

#include <QString>

namespace Sluice {

/// The process's memory allocator, as `sluice-cli --version` reports it: "mimalloc 2.0.9" when
/// malloc is mimalloc's, "mimalloc 2.0.9 (linked, not in use)" when something bound malloc elsewhere
/// (an LD_PRELOAD, a static link order gone wrong), "system malloc" for a -DSLUICE_ALLOCATOR=system build.
QString allocatorDescription();

} // namespace Sluice

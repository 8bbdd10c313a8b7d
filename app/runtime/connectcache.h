#pragma once

#include <QString>
#include <QtGlobal>

namespace Sluice::ConnectCache {

/// Qt Network makes about 44 string-based QObject::connect() calls for every HTTP request
/// (QNetworkReplyHttpImpl and QHttpThreadDelegate wire up their signals with SIGNAL()/SLOT()). Each
/// call parses both signatures, looks every argument type up by name and searches the meta-objects:
/// about 6,000 instructions, 40 % of all a run executes (callgrind, README "Performance"), to find
/// the same few dozen signal and slot indices every time.
///
/// This executable defines QObject::connect(const QObject *, const char *, const QObject *,
/// const char *, Qt::ConnectionType) itself, which the dynamic linker binds Qt Network's calls to.
/// For a call made from inside libQt6Network whose sender and receiver classes and signature strings
/// it has resolved before (on this thread), it connects by index through the public
/// QMetaObject::connect(sender, signalIndex, receiver, methodIndex, type, types): the same
/// connection, slot and argument types that Qt's own lookup would give. Every other call, every first
/// call, and every call it cannot resolve the same way (an unknown or unqueueable type, a METHOD()
/// code) goes to Qt's own implementation, warnings included.
///
/// SLUICE_CONNECT_CACHE=0 in the environment turns it off (every call goes to Qt), and it is off
/// whenever the Qt found at run time is not the one it was built and tested with (qVersion() !=
/// QT_VERSION_STR). Built on Linux only (it relies on the ELF dynamic linker's symbol binding).

struct Stats
{
    quint64 hits = 0;     ///< connected by index from the cache
    quint64 misses = 0;   ///< resolved by Qt, then cached (or found unresolvable)
    quint64 bypassed = 0; ///< not from a cached library, turned off, or invalid arguments
};

/// Totals over every thread since the process started.
Stats stats();

/// Whether the cache is in use (not turned off by SLUICE_CONNECT_CACHE=0, the Qt it was built for).
bool enabled();
/// "on (Qt 6.4.2)", or why it is off, for --version.
QString description();

/// Also caches calls made from code in the shared object or executable that holds `address`
/// (tests: the test binary itself). libQt6Network is always included.
void includeCallersIn(const void *address);

} // namespace Sluice::ConnectCache

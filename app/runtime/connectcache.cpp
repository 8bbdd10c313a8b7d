#include "connectcache.h"

#include <QByteArray>
#include <QMetaObject>
#include <QMetaType>
#include <QMutex>
#include <QObject>

#include <atomic>
#include <cstring>
#include <dlfcn.h>
#include <link.h>
#include <memory>
#include <unordered_map>
#include <vector>

// How Qt 6.4 resolves a string-based connect (qobject.cpp, QObject::connect(const QObject *,
// const char *, const QObject *, const char *, Qt::ConnectionType)), and what this file repeats of it:
// - the signature strings start with a code: '2' for SIGNAL(), '1' for SLOT() (other codes are refused);
// - the signal is looked up as written, then normalized (QMetaObject::normalizedSignature), among the
//   sender's signals and its base classes' (the same lookup as QMetaObject::indexOfSignal); a cloned
//   signal (one made for a default argument) is connected as its original;
// - the method likewise among the receiver's slots (SLOT) or signals (SIGNAL);
// - for Qt::QueuedConnection exactly, the argument types are resolved at once from the signal string
//   (split at top-level commas, QVector< read as QList<): a type's id by name, else void* for a
//   pointer; an unknown type fails the connect with a warning;
// - the connection is made by QMetaObjectPrivate::connect, which the public index-based
//   QMetaObject::connect also reaches (clone mapping included), Qt::UniqueConnection and
//   Qt::SingleShotConnection handled there.
// Only the first call for a (sender class, signal string, receiver class, method string) goes to Qt;
// the indices found then serve every later call with the same four.

namespace {

using ConnectFn = QMetaObject::Connection (*)(const QObject *, const char *, const QObject *, const char *,
                                              Qt::ConnectionType);
constexpr const char *ConnectSymbol = "_ZN7QObject7connectEPKS_PKcS1_S3_N2Qt14ConnectionTypeE";
constexpr char SignalCode = '2';
constexpr char SlotCode = '1';
constexpr int MaxRanges = 8;
/// Thread-local counts reach the totals every so many calls (and when the thread ends).
constexpr quint64 FlushEvery = 256;
/// Entries per thread at most: a caller that builds signature strings on the heap (new addresses
/// every time) must not grow the cache without bound; beyond this, calls go to Qt.
constexpr std::size_t MaxEntries = 1024;

struct Range
{
    quintptr begin = 0;
    quintptr end = 0;
};

struct Global
{
    ConnectFn real = nullptr;
    bool enabled = false;
    QMutex rangesMutex; ///< serialises writers of `ranges`
    Range ranges[MaxRanges];
    std::atomic<int> rangeCount{0};
    std::atomic<quint64> hits{0};
    std::atomic<quint64> misses{0};
    std::atomic<quint64> bypassed{0};
};

/// The executable segments of the loaded object that holds `address`, or of the one whose file name
/// contains `nameFragment`.
struct SegmentSearch
{
    quintptr address = 0;
    const char *nameFragment = nullptr;
    std::vector<Range> found;
};

int collectSegments(dl_phdr_info *info, size_t, void *data)
{
    auto *search = static_cast<SegmentSearch *>(data);
    std::vector<Range> executable;
    bool holdsAddress = false;
    for (ElfW(Half) i = 0; i < info->dlpi_phnum; ++i) {
        const ElfW(Phdr) &ph = info->dlpi_phdr[i];
        if (ph.p_type != PT_LOAD) {
            continue;
        }
        const Range r{quintptr(info->dlpi_addr + ph.p_vaddr),
                      quintptr(info->dlpi_addr + ph.p_vaddr + ph.p_memsz)};
        if (search->address >= r.begin && search->address < r.end) {
            holdsAddress = true;
        }
        if (ph.p_flags & PF_X) {
            executable.push_back(r);
        }
    }
    const bool named =
        search->nameFragment && info->dlpi_name && std::strstr(info->dlpi_name, search->nameFragment);
    if (holdsAddress || named) {
        search->found = std::move(executable);
        return 1; // stop
    }
    return 0;
}

void addRanges(Global &g, SegmentSearch search)
{
    dl_iterate_phdr(collectSegments, &search);
    QMutexLocker lock(&g.rangesMutex);
    int count = g.rangeCount.load(std::memory_order_relaxed);
    for (const Range &r : search.found) {
        if (count < MaxRanges) {
            g.ranges[count++] = r;
        }
    }
    g.rangeCount.store(count, std::memory_order_release);
}

Global &global()
{
    static Global *g = [] {
        auto *made = new Global; // never destroyed: connects happen until the very end of the process
        made->real = reinterpret_cast<ConnectFn>(dlvsym(RTLD_NEXT, ConnectSymbol, "Qt_6"));
        if (!made->real) {
            made->real = reinterpret_cast<ConnectFn>(dlsym(RTLD_NEXT, ConnectSymbol));
        }
        if (!made->real) {
            qFatal("sluice: QObject::connect of QtCore not found (%s)", dlerror());
        }
        // Tested against the Qt it was built with: another Qt at run time (an upgraded library under
        // the same binary) may connect differently, so it stays off rather than guess.
        made->enabled = qEnvironmentVariable("SLUICE_CONNECT_CACHE") != QLatin1String("0") &&
                        qstrcmp(qVersion(), QT_VERSION_STR) == 0;
        if (made->enabled) {
            SegmentSearch network;
            network.nameFragment = "/libQt6Network.so";
            addRanges(*made, std::move(network));
        }
        return made;
    }();
    return *g;
}

bool fromCachedLibrary(const Global &g, const void *returnAddress)
{
    const auto pc = quintptr(returnAddress);
    const int count = g.rangeCount.load(std::memory_order_acquire);
    for (int i = 0; i < count; ++i) {
        if (pc >= g.ranges[i].begin && pc < g.ranges[i].end) {
            return true;
        }
    }
    return false;
}

struct Key
{
    const QMetaObject *senderMeta;
    const char *signal;
    const QMetaObject *receiverMeta;
    const char *method;
    bool operator==(const Key &o) const
    {
        return senderMeta == o.senderMeta && signal == o.signal && receiverMeta == o.receiverMeta &&
               method == o.method;
    }
};

struct KeyHash
{
    size_t operator()(const Key &k) const
    {
        size_t h = std::hash<const void *>()(k.senderMeta);
        for (const void *p : {static_cast<const void *>(k.signal), static_cast<const void *>(k.receiverMeta),
                              static_cast<const void *>(k.method)}) {
            h = h * 1000003u ^ std::hash<const void *>()(p);
        }
        return h;
    }
};

struct Entry
{
    /// The strings as they were when resolved: a key's pointers may be reused for other text.
    QByteArray signalText;
    QByteArray methodText;
    bool resolvable = false;
    int signalIndex = -1; ///< absolute method index of the signal (a clone stays a clone)
    int methodIndex = -1; ///< absolute method index of the slot or signal
    /// Argument type ids for Qt::QueuedConnection, 0-terminated; empty when a type cannot be queued.
    std::vector<int> queuedTypes;
};

struct ThreadCache
{
    std::unordered_map<Key, Entry, KeyHash> entries;
    quint64 hits = 0;
    quint64 misses = 0;
    quint64 bypassed = 0;

    void flush()
    {
        Global &g = global();
        g.hits.fetch_add(hits, std::memory_order_relaxed);
        g.misses.fetch_add(misses, std::memory_order_relaxed);
        g.bypassed.fetch_add(bypassed, std::memory_order_relaxed);
        hits = misses = bypassed = 0;
    }
    void count(quint64 &counter)
    {
        if (++counter >= FlushEvery) {
            flush();
        }
    }
    ~ThreadCache();
};

/// False once this thread's cache is destroyed (at thread or process exit): connects made after that,
/// from other thread-local or static destructors, go to Qt.
thread_local bool t_cacheAlive = true;

ThreadCache::~ThreadCache()
{
    flush();
    t_cacheAlive = false;
}

ThreadCache &threadCache()
{
    thread_local ThreadCache cache;
    return cache;
}

/// Argument types of a signature for a queued connection, as Qt resolves them from the string.
std::vector<int> queuedTypesOf(const char *signature)
{
    const char *open = std::strchr(signature, '(');
    const char *close = std::strrchr(signature, ')');
    if (!open || !close || close < open) {
        return {};
    }
    std::vector<int> types;
    const char *p = open + 1;
    while (p < close) {
        const char *begin = p;
        int level = 0;
        while (p < close && (level > 0 || *p != ',')) {
            level += *p == '<' ? 1 : *p == '>' ? -1 : 0;
            ++p;
        }
        QByteArray name(begin, p - begin);
        name.replace("QVector<", "QList<");
        int id = QMetaType::fromName(name).id();
        if (!id && name.endsWith('*')) {
            id = QMetaType::VoidStar;
        }
        if (!id) {
            return {};
        }
        types.push_back(id);
        if (p < close) {
            ++p; // the comma
        }
    }
    types.push_back(0);
    return types;
}

/// The index of `signature` (after its code) among `meta`'s signals or slots: as written, else normalized.
int indexOf(const QMetaObject *meta, const char *signature, bool signal, QByteArray *matched)
{
    const auto find = [meta, signal](const char *s) {
        return signal ? meta->indexOfSignal(s) : meta->indexOfSlot(s);
    };
    int index = find(signature);
    if (index >= 0) {
        *matched = QByteArray(signature);
        return index;
    }
    const QByteArray normalized = QMetaObject::normalizedSignature(signature);
    index = find(normalized.constData());
    if (index >= 0) {
        *matched = normalized;
    }
    return index;
}

Entry resolve(const QMetaObject *senderMeta, const char *signal, const QMetaObject *receiverMeta,
              const char *method)
{
    Entry e;
    e.signalText = QByteArray(signal);
    e.methodText = QByteArray(method);
    if (signal[0] != SignalCode || (method[0] != SlotCode && method[0] != SignalCode)) {
        return e;
    }
    QByteArray signalMatched;
    QByteArray methodMatched;
    e.signalIndex = indexOf(senderMeta, signal + 1, true, &signalMatched);
    e.methodIndex = indexOf(receiverMeta, method + 1, method[0] == SignalCode, &methodMatched);
    e.resolvable = e.signalIndex >= 0 && e.methodIndex >= 0;
    if (e.resolvable) {
        e.queuedTypes = queuedTypesOf(signalMatched.constData());
    }
    return e;
}

} // namespace

namespace Sluice::ConnectCache {

Stats stats()
{
    ThreadCache &local = threadCache();
    local.flush();
    const Global &g = global();
    return {g.hits.load(std::memory_order_relaxed), g.misses.load(std::memory_order_relaxed),
            g.bypassed.load(std::memory_order_relaxed)};
}

QString description()
{
    if (global().enabled) {
        return QStringLiteral("on (Qt %1)").arg(QString::fromLatin1(qVersion()));
    }
    if (qstrcmp(qVersion(), QT_VERSION_STR) != 0) {
        return QStringLiteral("off: Qt %1 at run time, built and tested with %2")
            .arg(QString::fromLatin1(qVersion()), QStringLiteral(QT_VERSION_STR));
    }
    return QStringLiteral("off (SLUICE_CONNECT_CACHE=0)");
}

bool enabled()
{
    return global().enabled;
}

void includeCallersIn(const void *address)
{
    Global &g = global();
    if (!g.enabled) {
        return;
    }
    SegmentSearch search;
    search.address = quintptr(address);
    addRanges(g, std::move(search));
}

} // namespace Sluice::ConnectCache

// The definition the dynamic linker binds Qt's own libraries to (this executable exports it; see
// app/runtime/CMakeLists.txt).
QMetaObject::Connection QObject::connect(const QObject *sender, const char *signal, const QObject *receiver,
                                         const char *method, Qt::ConnectionType type)
{
    Global &g = global();
    if (!g.enabled || !t_cacheAlive) {
        return g.real(sender, signal, receiver, method, type);
    }
    ThreadCache &cache = threadCache();
    if (!sender || !receiver || !signal || !method || !fromCachedLibrary(g, __builtin_return_address(0))) {
        cache.count(cache.bypassed);
        return g.real(sender, signal, receiver, method, type);
    }
    const Key key{sender->metaObject(), signal, receiver->metaObject(), method};
    auto it = cache.entries.find(key);
    if (it != cache.entries.end() && (std::strcmp(it->second.signalText.constData(), signal) != 0 ||
                                      std::strcmp(it->second.methodText.constData(), method) != 0)) {
        cache.entries.erase(it); // the same addresses now hold other text
        it = cache.entries.end();
    }
    if (it == cache.entries.end()) {
        cache.count(cache.misses);
        const QMetaObject::Connection made = g.real(sender, signal, receiver, method, type);
        if (made && cache.entries.size() < MaxEntries) {
            // Only what Qt connected is cached: its checks (argument compatibility, warnings) ran.
            cache.entries.emplace(key, resolve(key.senderMeta, signal, key.receiverMeta, method));
        }
        return made;
    }
    const Entry &e = it->second;
    if (!e.resolvable || (type == Qt::QueuedConnection && e.queuedTypes.empty())) {
        cache.count(cache.bypassed);
        return g.real(sender, signal, receiver, method, type);
    }
    int *types = nullptr;
    if (type == Qt::QueuedConnection) {
        // The connection owns (and deletes[]) its array.
        types = new int[e.queuedTypes.size()];
        std::copy(e.queuedTypes.begin(), e.queuedTypes.end(), types);
    }
    cache.count(cache.hits);
    return QMetaObject::connect(sender, e.signalIndex, receiver, e.methodIndex, int(type), types);
}

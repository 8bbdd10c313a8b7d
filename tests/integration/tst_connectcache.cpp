// The executables' cache of string-based QObject::connect() calls (app/runtime/connectcache.h): every
// connect it answers from the cache must be the connection Qt would have made, and Qt Network's calls
// must really reach it. This binary links the runtime like sluice-cli does; its own calls are cached
// too (includeCallersIn), so each case connects twice, the second time from the cache.

#include "connectcache.h"
#include "sim/simulator.h"

#include <QNetworkAccessManager>
#include <QNetworkReply>
#include <QRegularExpression>
#include <QScopeGuard>
#include <QSignalSpy>
#include <QTest>
#include <QThread>

#include <cstring>
#include <vector>

using namespace Sluice;

namespace {

struct Pair
{
    int a = 0;
    int b = 0;
};

} // namespace

Q_DECLARE_METATYPE(Pair)

namespace {

/// An enum used only through a queued signal, never registered with qRegisterMetaType.
enum class Unregistered { A };

class Sender : public QObject
{
    Q_OBJECT

public:
    int receiverCount(const char *signal) const { return receivers(signal); }
    void emitAll(int v)
    {
        Q_EMIT valueChanged(v);
        Q_EMIT pinged(v);        // the default second argument: 7
        Q_EMIT pinged(v, v + 1); // explicitly
        Q_EMIT named(QStringLiteral("v%1").arg(v));
        Q_EMIT paired(Pair{v, -v});
        Q_EMIT forwarded(v);
    }

Q_SIGNALS:
    void valueChanged(int value);
    /// A default argument: moc adds a cloned signal pinged(int).
    void pinged(int a, int b = 7);
    void named(const QString &name);
    void paired(Pair pair);
    void unregistered(Unregistered value);
    void forwarded(int value);
    void other(int value);
};

class BaseReceiver : public QObject
{
    Q_OBJECT

public:
    std::vector<int> values;
    std::vector<int> pings;
    QStringList names;
    std::vector<int> pairs;

public Q_SLOTS:
    void onValue(int value) { values.push_back(value); }
    void onPing(int a, int b)
    {
        pings.push_back(a);
        pings.push_back(b);
    }
    void onPingOne(int a) { pings.push_back(-a); }
    void onName(const QString &name) { names.append(name); }
    void onPair(Pair pair) { pairs.push_back(pair.a * 1000 + pair.b); }
};

/// A slot declared in a base class, reached through the derived class's meta-object.
class DerivedReceiver : public BaseReceiver
{
    Q_OBJECT

public:
    int extra = 0;

public Q_SLOTS:
    void onExtra() { ++extra; }

Q_SIGNALS:
    void relayed(int value);
};

quint64 hits()
{
    return ConnectCache::stats().hits;
}

} // namespace

class tst_ConnectCache : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void directSlotsOfBaseAndDerivedClasses();
    void clonedSignal();
    void queuedArgumentsAreCopied();
    void queuedAcrossThreads();
    void signalToSignal();
    void uniqueConnectionRefusedTwice();
    void disconnectByString();
    void unqueueableTypeStillFails();
    void unknownSignalStillFails();
    void reusedBufferWithOtherText();
    void qtNetworkCallsAreCached();
};

void tst_ConnectCache::initTestCase()
{
    QVERIFY2(ConnectCache::enabled(), "SLUICE_CONNECT_CACHE=0 is set or Qt's connect was not found");
    qRegisterMetaType<Pair>();
    // Any address inside this executable: its own connect() calls are cached from now on.
    ConnectCache::includeCallersIn(&tst_ConnectCache::staticMetaObject);
}

void tst_ConnectCache::directSlotsOfBaseAndDerivedClasses()
{
    Sender sender;
    DerivedReceiver receiver;
    const auto connectAll = [&] {
        QVERIFY(connect(&sender, SIGNAL(valueChanged(int)), &receiver, SLOT(onValue(int))));
        QVERIFY(connect(&sender, SIGNAL(named(QString)), &receiver, SLOT(onName(QString))));
        // Written unnormalized: Qt normalizes it on the first call, the cache on every later one.
        QVERIFY(connect(&sender, SIGNAL(named(const QString &)), &receiver, SLOT(onName(const QString &))));
        QVERIFY(connect(&sender, SIGNAL(forwarded(int)), &receiver, SLOT(onExtra())));
    };
    connectAll(); // the first time Qt resolves them (or found them cached by an earlier case)
    const quint64 before = hits();
    connectAll(); // from the cache
    QCOMPARE(hits() - before, quint64(4));
    sender.emitAll(3);
    QCOMPARE(receiver.values, (std::vector<int>{3, 3}));
    QCOMPARE(receiver.names, (QStringList{QStringLiteral("v3"), QStringLiteral("v3"), QStringLiteral("v3"),
                                          QStringLiteral("v3")}));
    QCOMPARE(receiver.extra, 2);
    QCOMPARE(sender.receiverCount(SIGNAL(valueChanged(int))), 2);
}

void tst_ConnectCache::clonedSignal()
{
    // pinged(int) is the clone of pinged(int,int): connected as the original, the default filled in.
    Sender sender;
    BaseReceiver receiver;
    const auto connectAll = [&] {
        QVERIFY(connect(&sender, SIGNAL(pinged(int)), &receiver, SLOT(onPingOne(int))));
        QVERIFY(connect(&sender, SIGNAL(pinged(int, int)), &receiver, SLOT(onPing(int, int))));
    };
    connectAll(); // the first time Qt resolves them (or found them cached by an earlier case)
    const quint64 before = hits();
    connectAll(); // from the cache
    QCOMPARE(hits() - before, quint64(2));
    Q_EMIT sender.pinged(5);
    // One emission reaches the four connections in their order: onPingOne (-5), onPing (5, 7), twice.
    QCOMPARE(receiver.pings, (std::vector<int>{-5, 5, 7, -5, 5, 7}));
    QCOMPARE(sender.receiverCount(SIGNAL(pinged(int, int))), 4);
}

void tst_ConnectCache::queuedArgumentsAreCopied()
{
    Sender sender;
    BaseReceiver receiver;
    const auto connectAll = [&] {
        QVERIFY(
            connect(&sender, SIGNAL(named(QString)), &receiver, SLOT(onName(QString)), Qt::QueuedConnection));
        QVERIFY(connect(&sender, SIGNAL(paired(Pair)), &receiver, SLOT(onPair(Pair)), Qt::QueuedConnection));
        QVERIFY(connect(&sender, SIGNAL(pinged(int)), &receiver, SLOT(onPingOne(int)), Qt::QueuedConnection));
    };
    connectAll(); // the first time Qt resolves them (or found them cached by an earlier case)
    const quint64 before = hits();
    connectAll(); // from the cache
    QCOMPARE(hits() - before, quint64(3));
    {
        QString text = QStringLiteral("first");
        Q_EMIT sender.named(text);
        text = QStringLiteral("changed"); // the queued copies are independent of the emitter's value
    }
    Q_EMIT sender.paired(Pair{4, 2});
    Q_EMIT sender.pinged(9);
    QVERIFY(receiver.names.isEmpty()); // queued: nothing yet
    QCoreApplication::processEvents();
    QCOMPARE(receiver.names, (QStringList{QStringLiteral("first"), QStringLiteral("first")}));
    QCOMPARE(receiver.pairs, (std::vector<int>{4002, 4002}));
    QCOMPARE(receiver.pings, (std::vector<int>{-9, -9}));
}

void tst_ConnectCache::queuedAcrossThreads()
{
    // Auto connections to an object of another thread: the argument types are found when first
    // queued (not at connect time), for cached and uncached connections alike.
    QThread thread;
    thread.start();
    const auto stop = qScopeGuard([&thread] {
        thread.quit();
        thread.wait();
    });
    auto *receiver = new BaseReceiver;
    receiver->moveToThread(&thread);
    Sender sender;
    const auto connectAll = [&] {
        QVERIFY(connect(&sender, SIGNAL(named(QString)), receiver, SLOT(onName(QString))));
    };
    connectAll(); // the first time Qt resolves them (or found them cached by an earlier case)
    const quint64 before = hits();
    connectAll(); // from the cache
    QCOMPARE(hits() - before, quint64(1));
    Q_EMIT sender.named(QStringLiteral("x"));
    QStringList seen;
    QMetaObject::invokeMethod(
        receiver, [receiver, &seen] { seen = receiver->names; }, Qt::BlockingQueuedConnection);
    QCOMPARE(seen, (QStringList{QStringLiteral("x"), QStringLiteral("x")}));
    QMetaObject::invokeMethod(
        receiver, [receiver] { delete receiver; }, Qt::BlockingQueuedConnection);
}

void tst_ConnectCache::signalToSignal()
{
    Sender sender;
    DerivedReceiver relay;
    BaseReceiver end;
    QVERIFY(connect(&relay, SIGNAL(relayed(int)), &end, SLOT(onValue(int))));
    const auto connectAll = [&] {
        QVERIFY(connect(&sender, SIGNAL(valueChanged(int)), &relay, SIGNAL(relayed(int))));
    };
    connectAll(); // the first time Qt resolves them (or found them cached by an earlier case)
    const quint64 before = hits();
    connectAll(); // from the cache
    QCOMPARE(hits() - before, quint64(1));
    Q_EMIT sender.valueChanged(11);
    QCOMPARE(end.values, (std::vector<int>{11, 11}));
}

void tst_ConnectCache::uniqueConnectionRefusedTwice()
{
    Sender sender;
    BaseReceiver receiver;
    const auto unique = Qt::ConnectionType(Qt::AutoConnection | Qt::UniqueConnection);
    QVERIFY(connect(&sender, SIGNAL(valueChanged(int)), &receiver, SLOT(onValue(int)), unique));
    const quint64 before = hits();
    QVERIFY(!connect(&sender, SIGNAL(valueChanged(int)), &receiver, SLOT(onValue(int)), unique));
    QVERIFY(!connect(&sender, SIGNAL(valueChanged(int)), &receiver, SLOT(onValue(int)), unique));
    QCOMPARE(hits() - before, quint64(2)); // refused by Qt's own uniqueness check, from the cache
    Q_EMIT sender.valueChanged(1);
    QCOMPARE(receiver.values, (std::vector<int>{1}));
}

void tst_ConnectCache::disconnectByString()
{
    Sender sender;
    BaseReceiver receiver;
    QVERIFY(connect(&sender, SIGNAL(valueChanged(int)), &receiver, SLOT(onValue(int))));
    QVERIFY(connect(&sender, SIGNAL(valueChanged(int)), &receiver, SLOT(onValue(int)))); // cached
    QVERIFY(disconnect(&sender, SIGNAL(valueChanged(int)), &receiver, SLOT(onValue(int))));
    QCOMPARE(sender.receiverCount(SIGNAL(valueChanged(int))), 0);
    Q_EMIT sender.valueChanged(2);
    QVERIFY(receiver.values.empty());
}

void tst_ConnectCache::unqueueableTypeStillFails()
{
    // Qt refuses a queued connection of an unregistered type with a warning; so does every later call.
    Sender sender;
    BaseReceiver receiver;
    for (int i = 0; i < 2; ++i) {
        QTest::ignoreMessage(QtWarningMsg,
                             QRegularExpression(QStringLiteral("Cannot queue arguments of type")));
        QVERIFY(!connect(&sender, SIGNAL(unregistered(Unregistered)), &receiver, SLOT(deleteLater()),
                         Qt::QueuedConnection));
    }
    // Direct, the same signal connects (and the second time from the cache).
    QVERIFY(connect(&sender, SIGNAL(unregistered(Unregistered)), &receiver, SLOT(deleteLater())));
    const quint64 before = hits();
    QVERIFY(connect(&sender, SIGNAL(unregistered(Unregistered)), &receiver, SLOT(deleteLater())));
    QCOMPARE(hits() - before, quint64(1));
}

void tst_ConnectCache::unknownSignalStillFails()
{
    Sender sender;
    BaseReceiver receiver;
    for (int i = 0; i < 2; ++i) {
        QTest::ignoreMessage(QtWarningMsg, QRegularExpression(QStringLiteral("No such signal")));
        QVERIFY(!connect(&sender, SIGNAL(nothing(int)), &receiver, SLOT(onValue(int))));
        QTest::ignoreMessage(QtWarningMsg, QRegularExpression(QStringLiteral("No such slot")));
        QVERIFY(!connect(&sender, SIGNAL(valueChanged(int)), &receiver, SLOT(nothing(int))));
    }
}

void tst_ConnectCache::reusedBufferWithOtherText()
{
    // The same addresses holding other text later: the cache must not reuse the old indices.
    Sender sender;
    BaseReceiver receiver;
    char signal[64];
    char slot[64];
    std::strcpy(signal, SIGNAL(valueChanged(int)));
    std::strcpy(slot, SLOT(onValue(int)));
    QVERIFY(connect(&sender, signal, &receiver, slot));
    QVERIFY(connect(&sender, signal, &receiver, slot));
    std::strcpy(signal, SIGNAL(other(int)));
    std::strcpy(slot, SLOT(onPingOne(int)));
    QVERIFY(connect(&sender, signal, &receiver, slot));
    QVERIFY(connect(&sender, signal, &receiver, slot));
    Q_EMIT sender.other(4);
    QCOMPARE(receiver.pings, (std::vector<int>{-4, -4}));
    QVERIFY(receiver.values.empty());
    Q_EMIT sender.valueChanged(8);
    QCOMPARE(receiver.values, (std::vector<int>{8, 8}));
}

void tst_ConnectCache::qtNetworkCallsAreCached()
{
    // Real requests through a QNetworkAccessManager: Qt Network's own connects (about 40 per request)
    // reach the cache, and every reply arrives whole.
    Simulator sim;
    QVERIFY(sim.listen());
    QNetworkAccessManager nam;
    QNetworkRequest request(sim.chatUrl());
    request.setHeader(QNetworkRequest::ContentTypeHeader, QByteArrayLiteral("application/json"));
    const QByteArray body = R"({"model":"m","messages":[{"role":"user","content":"hi"}]})";
    const quint64 before = hits();
    constexpr int Requests = 20;
    int ok = 0;
    for (int i = 0; i < Requests; ++i) {
        QNetworkReply *reply = nam.post(request, body);
        QSignalSpy finished(reply, &QNetworkReply::finished);
        QVERIFY(finished.wait(10000));
        const int status = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
        const QByteArray bytes = reply->readAll();
        if (reply->error() == QNetworkReply::NoError && status == 200 && bytes.contains("\"choices\"")) {
            ++ok;
        }
        delete reply;
    }
    QCOMPARE(ok, Requests);
    // Threads flush their counts every 256 calls or when they end; this thread's count is exact, and
    // it alone makes more than 20 connects per request (the HTTP thread makes the rest).
    const quint64 gained = hits() - before;
    QVERIFY2(gained >= quint64(20) * (Requests - 1), qPrintable(QString::number(gained)));
}

QTEST_MAIN(tst_ConnectCache)
#include "tst_connectcache.moc"

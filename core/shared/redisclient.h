#pragma once

#include "util/result.h"

#include <QByteArray>
#include <QElapsedTimer>
#include <QList>
#include <QLoggingCategory>
#include <QObject>
#include <QTimer>

#include <deque>
#include <functional>

struct redisAsyncContext;
class QSocketNotifier;

namespace Sluice {

Q_DECLARE_LOGGING_CATEGORY(lcShared)

/// One Redis reply, copied out of hiredis (whose reply objects live only during the callback).
struct RedisValue
{
    enum class Type { Nil, Integer, String, Status, Error, Array };
    Type type = Type::Nil;
    qint64 integer = 0;
    QByteArray text; ///< String, Status and Error
    QList<RedisValue> elements;

    bool isError() const { return type == Type::Error; }
    /// The integer of an Integer reply, or of a String holding a number; `fallback` otherwise.
    qint64 toInteger(qint64 fallback = 0) const;
};

/// A hiredis asynchronous connection driven by the Qt event loop of the thread it lives on.
///
/// hiredis's own Qt adapter (adapters/qt.h) is a Q_OBJECT class in a system header that AUTOMOC does
/// not process, so the event hooks of redisAsyncContext (addRead/delRead/addWrite/delWrite/cleanup)
/// are served here by two QSocketNotifiers. The client connects on open(), reconnects after a loss
/// with backoff (`MinBackoffMs` doubling to `MaxBackoffMs`), and treats a command unanswered after
/// `commandTimeoutMs` as a dead connection: it drops the connection (every pending command then
/// completes with an error) and reconnects. Commands are never queued while disconnected: send()
/// refuses them, so the caller decides what a missing Redis means. After each (re)connection, once
/// Redis has answered a PING, `connected()` is emitted.
///
/// Not thread-safe; create, use and destroy it on one thread.
class RedisClient : public QObject
{
    Q_OBJECT

public:
    static constexpr int MinBackoffMs = 100;
    static constexpr int MaxBackoffMs = 2000;

    using Callback = std::function<void(const Result<RedisValue> &reply)>;

    explicit RedisClient(QObject *parent = nullptr);
    ~RedisClient() override;

    /// Connects to host:port and, when `db` is not 0, selects that database on every connection.
    void open(const QString &host, quint16 port, int db = 0);
    /// Drops the connection and stops reconnecting; pending commands fail.
    void close();
    bool isConnected() const { return m_connected; }
    void setCommandTimeoutMs(int ms) { m_commandTimeoutMs = ms; }

    /// Sends one command (binary-safe arguments). `done` runs exactly once, from the event loop: with
    /// the reply (which may be a Redis error reply), or with an error when the connection is lost or
    /// the command times out. Returns false, without calling `done`, when not connected.
    bool send(const QList<QByteArray> &args, Callback done);

    qint64 reconnects() const { return m_reconnects; }
    /// Writes what hiredis has buffered now, without waiting for the event loop (before an exit).
    void flush();
    /// Commands sent and not yet answered.
    int pending() const { return int(m_sentAt.size()); }

Q_SIGNALS:
    void connected();
    /// The connection was lost or could not be made; `why` is for the operator (no secrets in it).
    void disconnected(const QString &why);

private:
    struct Hooks;
    friend struct Hooks;

    void connectNow();
    void dropContext(const QString &why);
    void scheduleReconnect();
    void checkTimeouts();
    void handleConnected(int status);
    void handleDisconnected(int status);

    redisAsyncContext *m_ctx = nullptr;
    QSocketNotifier *m_readNotifier = nullptr;
    QSocketNotifier *m_writeNotifier = nullptr;
    QString m_host;
    quint16 m_port = 0;
    int m_db = 0;
    bool m_open = false;
    bool m_connected = false;
    int m_backoffMs = MinBackoffMs;
    int m_commandTimeoutMs = 1000;
    qint64 m_reconnects = 0;
    QString m_lastError;
    QElapsedTimer m_clock;
    double m_connectStartedMs = 0;
    std::deque<double> m_sentAt; ///< send times of pending commands (Redis answers in order)
    QTimer m_reconnectTimer;
    QTimer m_timeoutTimer;
};

} // namespace Sluice

#include "redisclient.h"

#include <QLoggingCategory>
#include <QSocketNotifier>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <algorithm>
#include <memory>

namespace Sluice {

Q_LOGGING_CATEGORY(lcShared, "sluice.shared")

qint64 RedisValue::toInteger(qint64 fallback) const
{
    if (type == Type::Integer) {
        return integer;
    }
    if (type == Type::String) {
        bool ok = false;
        const qint64 v = text.toLongLong(&ok);
        return ok ? v : fallback;
    }
    return fallback;
}

namespace {

RedisValue copyReply(const redisReply *r)
{
    RedisValue v;
    switch (r->type) {
    case REDIS_REPLY_INTEGER:
        v.type = RedisValue::Type::Integer;
        v.integer = r->integer;
        break;
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR:
        v.type = r->type == REDIS_REPLY_STRING   ? RedisValue::Type::String
                 : r->type == REDIS_REPLY_STATUS ? RedisValue::Type::Status
                                                 : RedisValue::Type::Error;
        v.text = QByteArray(r->str, qsizetype(r->len));
        break;
    case REDIS_REPLY_ARRAY:
        v.type = RedisValue::Type::Array;
        for (size_t i = 0; i < r->elements; ++i) {
            v.elements.append(copyReply(r->element[i]));
        }
        break;
    default:
        break;
    }
    return v;
}

struct PendingCommand
{
    RedisClient *client;
    RedisClient::Callback done;
};

Error connectionError(const QString &message)
{
    return Error{Error::Code::Io, message, 0};
}

} // namespace

/// The C callbacks hiredis calls; `privdata` / `ac->data` is the RedisClient.
struct RedisClient::Hooks
{
    static RedisClient *of(void *privdata) { return static_cast<RedisClient *>(privdata); }

    static QSocketNotifier *notifier(RedisClient *c, QSocketNotifier::Type type)
    {
        QSocketNotifier *&n = type == QSocketNotifier::Read ? c->m_readNotifier : c->m_writeNotifier;
        if (!n && c->m_ctx) {
            n = new QSocketNotifier(c->m_ctx->c.fd, type, c);
            QObject::connect(n, &QSocketNotifier::activated, c, [c, type] {
                // Either call may end with hiredis freeing the context (cleanup hook below).
                if (!c->m_ctx) {
                    return;
                }
                if (type == QSocketNotifier::Read) {
                    redisAsyncHandleRead(c->m_ctx);
                } else {
                    redisAsyncHandleWrite(c->m_ctx);
                }
            });
        }
        return n;
    }
    static void addRead(void *p)
    {
        if (QSocketNotifier *n = notifier(of(p), QSocketNotifier::Read)) {
            n->setEnabled(true);
        }
    }
    static void delRead(void *p)
    {
        if (QSocketNotifier *n = of(p)->m_readNotifier) {
            n->setEnabled(false);
        }
    }
    static void addWrite(void *p)
    {
        if (QSocketNotifier *n = notifier(of(p), QSocketNotifier::Write)) {
            n->setEnabled(true);
        }
    }
    static void delWrite(void *p)
    {
        if (QSocketNotifier *n = of(p)->m_writeNotifier) {
            n->setEnabled(false);
        }
    }
    static void cleanup(void *p)
    {
        RedisClient *c = of(p);
        for (QSocketNotifier **n : {&c->m_readNotifier, &c->m_writeNotifier}) {
            if (*n) {
                (*n)->setEnabled(false);
                (*n)->deleteLater(); // we may be inside its activated() signal
                *n = nullptr;
            }
        }
    }
    static void onConnect(const redisAsyncContext *ac, int status) { of(ac->data)->handleConnected(status); }
    static void onDisconnect(const redisAsyncContext *ac, int status)
    {
        of(ac->data)->handleDisconnected(status);
    }
    static void onReply(redisAsyncContext *, void *reply, void *privdata)
    {
        std::unique_ptr<PendingCommand> p(static_cast<PendingCommand *>(privdata));
        RedisClient *c = p->client;
        if (!c->m_sentAt.empty()) {
            c->m_sentAt.pop_front();
        }
        if (reply) {
            p->done(copyReply(static_cast<redisReply *>(reply)));
            return;
        }
        // The connection went away: report it from the event loop, never from inside hiredis's free.
        const QString why = c->m_lastError.isEmpty() ? QStringLiteral("connection lost") : c->m_lastError;
        QMetaObject::invokeMethod(
            c, [done = std::move(p->done), why] { done(connectionError(why)); }, Qt::QueuedConnection);
    }
};

RedisClient::RedisClient(QObject *parent)
    : QObject(parent)
    , m_reconnectTimer(this)
    , m_timeoutTimer(this)
{
    m_clock.start();
    m_reconnectTimer.setSingleShot(true);
    connect(&m_reconnectTimer, &QTimer::timeout, this, &RedisClient::connectNow);
    m_timeoutTimer.setInterval(50);
    connect(&m_timeoutTimer, &QTimer::timeout, this, &RedisClient::checkTimeouts);
}

RedisClient::~RedisClient()
{
    close();
}

void RedisClient::open(const QString &host, quint16 port, int db)
{
    close();
    m_host = host;
    m_port = port;
    m_db = db;
    m_open = true;
    m_backoffMs = MinBackoffMs;
    m_timeoutTimer.start();
    connectNow();
}

void RedisClient::close()
{
    m_open = false;
    m_reconnectTimer.stop();
    m_timeoutTimer.stop();
    if (m_ctx) {
        redisAsyncContext *ctx = m_ctx;
        m_ctx = nullptr;
        m_connected = false;
        m_lastError = QStringLiteral("closed");
        redisAsyncFree(ctx); // pending commands complete with an error (queued)
    }
    m_sentAt.clear();
}

void RedisClient::connectNow()
{
    if (!m_open || m_ctx) {
        return;
    }
    redisAsyncContext *ctx = redisAsyncConnect(m_host.toUtf8().constData(), int(m_port));
    if (!ctx) {
        m_lastError = QStringLiteral("out of memory");
        scheduleReconnect();
        return;
    }
    if (ctx->err) {
        m_lastError = QStringLiteral("cannot connect to %1:%2: %3")
                          .arg(m_host)
                          .arg(m_port)
                          .arg(QString::fromLocal8Bit(ctx->errstr));
        redisAsyncFree(ctx);
        Q_EMIT disconnected(m_lastError);
        scheduleReconnect();
        return;
    }
    m_ctx = ctx;
    ctx->data = this;
    ctx->ev.data = this;
    ctx->ev.addRead = &Hooks::addRead;
    ctx->ev.delRead = &Hooks::delRead;
    ctx->ev.addWrite = &Hooks::addWrite;
    ctx->ev.delWrite = &Hooks::delWrite;
    ctx->ev.cleanup = &Hooks::cleanup;
    redisAsyncSetConnectCallback(ctx, &Hooks::onConnect);
    redisAsyncSetDisconnectCallback(ctx, &Hooks::onDisconnect);
    m_connectStartedMs = double(m_clock.elapsed());
    Hooks::addWrite(this); // the connect completes when the socket becomes writable
}

void RedisClient::handleConnected(int status)
{
    if (!m_ctx) {
        return;
    }
    if (status != REDIS_OK) {
        // hiredis frees the context after this callback.
        m_lastError = QStringLiteral("cannot connect to %1:%2: %3")
                          .arg(m_host)
                          .arg(m_port)
                          .arg(QString::fromLocal8Bit(m_ctx->errstr));
        m_ctx = nullptr;
        m_connected = false;
        m_sentAt.clear();
        QMetaObject::invokeMethod(
            this, [this, why = m_lastError] { Q_EMIT disconnected(why); }, Qt::QueuedConnection);
        scheduleReconnect();
        return;
    }
    m_connected = true;
    m_backoffMs = MinBackoffMs;
    m_lastError.clear();
    if (m_db != 0) {
        send({QByteArrayLiteral("SELECT"), QByteArray::number(m_db)}, [this](const Result<RedisValue> &r) {
            if (r && r->isError()) {
                qCWarning(lcShared).noquote() << "SELECT" << m_db << "failed:" << QString::fromUtf8(r->text);
            }
        });
    }
    // Connected only once Redis answers: a server that accepts connections but is hung (stopped)
    // must not look connected until each command times out. The PING reply arrives from the read
    // handler; the announcement is queued so that the receiver may send or close freely.
    send({QByteArrayLiteral("PING")}, [this](const Result<RedisValue> &r) {
        if (r && !r->isError()) {
            QMetaObject::invokeMethod(
                this,
                [this] {
                    if (m_connected) {
                        Q_EMIT connected();
                    }
                },
                Qt::QueuedConnection);
        }
    });
}

void RedisClient::handleDisconnected(int status)
{
    if (!m_ctx) {
        return; // we dropped it ourselves (dropContext / close): already handled
    }
    m_lastError = status == REDIS_OK ? QStringLiteral("disconnected")
                                     : QStringLiteral("connection to %1:%2 lost: %3")
                                           .arg(m_host)
                                           .arg(m_port)
                                           .arg(QString::fromLocal8Bit(m_ctx->errstr));
    m_ctx = nullptr;
    m_connected = false;
    m_sentAt.clear();
    QMetaObject::invokeMethod(
        this, [this, why = m_lastError] { Q_EMIT disconnected(why); }, Qt::QueuedConnection);
    scheduleReconnect();
}

void RedisClient::dropContext(const QString &why)
{
    if (!m_ctx) {
        return;
    }
    redisAsyncContext *ctx = m_ctx;
    m_ctx = nullptr;
    m_connected = false;
    m_lastError = why;
    redisAsyncFree(ctx);
    m_sentAt.clear();
    Q_EMIT disconnected(why);
    scheduleReconnect();
}

void RedisClient::scheduleReconnect()
{
    if (!m_open || m_reconnectTimer.isActive()) {
        return;
    }
    ++m_reconnects;
    m_reconnectTimer.start(m_backoffMs);
    m_backoffMs = std::min(MaxBackoffMs, m_backoffMs * 2);
}

void RedisClient::checkTimeouts()
{
    if (!m_ctx) {
        return;
    }
    const double now = double(m_clock.elapsed());
    if (!m_connected && now - m_connectStartedMs > m_commandTimeoutMs) {
        dropContext(QStringLiteral("connecting to %1:%2 timed out").arg(m_host).arg(m_port));
    } else if (!m_sentAt.empty() && now - m_sentAt.front() > m_commandTimeoutMs) {
        dropContext(
            QStringLiteral("no answer from %1:%2 in %3 ms").arg(m_host).arg(m_port).arg(m_commandTimeoutMs));
    }
}

void RedisClient::flush()
{
    if (m_ctx && m_connected) {
        redisAsyncHandleWrite(m_ctx);
    }
}

bool RedisClient::send(const QList<QByteArray> &args, Callback done)
{
    if (!m_ctx || !m_connected) {
        return false;
    }
    std::vector<const char *> argv;
    std::vector<size_t> lengths;
    argv.reserve(std::size_t(args.size()));
    lengths.reserve(std::size_t(args.size()));
    for (const QByteArray &a : args) {
        argv.push_back(a.constData());
        lengths.push_back(size_t(a.size()));
    }
    auto *pending = new PendingCommand{this, std::move(done)};
    if (redisAsyncCommandArgv(m_ctx, &Hooks::onReply, pending, int(argv.size()), argv.data(),
                              lengths.data()) != REDIS_OK) {
        delete pending;
        return false;
    }
    m_sentAt.push_back(double(m_clock.elapsed()));
    return true;
}

} // namespace Sluice

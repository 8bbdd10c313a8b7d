#include "connection.h"

#include "sim/httpresponse.h"
#include "sim/openaidialect.h"
#include "sim/requesthandler.h"

#include <QLoggingCategory>
#include <QTcpSocket>
#include <QTimer>

#include <nlohmann/json.hpp>

#ifdef Q_OS_UNIX
#include <sys/socket.h>
#endif

namespace Sluice::Sim {

Q_LOGGING_CATEGORY(lcSim, "sluice.sim")

namespace {

/// Replies a connection may have waiting (pipelined requests); beyond that we stop reading from it so
/// that TCP pushes back instead of our memory growing.
constexpr std::size_t kMaxPendingReplies = 256;
constexpr qint64 kSocketReadBuffer = 256 * 1024;
/// A reset mid-body waits this long after the partial reply, so that the client has read it before
/// the RST arrives (a RST can make the peer's kernel drop data it has not read yet). Real time on
/// purpose, not the injected clock: it is about the peer's kernel, not about simulated behaviour.
constexpr int kResetMidBodyDelayMs = 50;

} // namespace

Connection::Connection(quint64 id, QTcpSocket *socket, Env env)
    : QObject(socket)
    , m_id(id)
    , m_socket(socket)
    , m_env(std::move(env))
{
}

void Connection::start()
{
    m_socket->setSocketOption(QAbstractSocket::LowDelayOption, 1);
    m_socket->setReadBufferSize(kSocketReadBuffer);
    connect(m_socket, &QTcpSocket::readyRead, this, [this] { handleReadyRead(); });
    connect(m_socket, &QTcpSocket::disconnected, this, [this] { handleDisconnected(); });
    if (m_socket->state() != QAbstractSocket::ConnectedState)
        handleDisconnected();
    else if (m_socket->bytesAvailable() > 0)
        handleReadyRead();
}

void Connection::abort()
{
    QObject::disconnect(m_socket, nullptr, this, nullptr);
    m_closing = true;
    m_socket->abort();
    handleDisconnected();
}

void Connection::handleReadyRead()
{
    if (m_gone)
        return;
    const qint64 available = m_socket->bytesAvailable();
    if (available <= 0)
        return;
    if (m_closing) {
        m_socket->skip(available); // no further requests will be answered on this connection
        return;
    }
    if (m_pending.size() >= kMaxPendingReplies)
        return; // resumed by flush() once replies have gone out
    m_reader.readFrom(m_socket, available);
    processBuffer();
}

void Connection::handleDisconnected()
{
    if (m_gone)
        return;
    m_gone = true;
    m_pending.clear();
    m_stream.reset();
    m_env.forget(m_id);
    // Deferred: we may be inside one of this socket's own signals. The Connection dies with it.
    m_socket->deleteLater();
}

void Connection::processBuffer()
{
    while (!m_gone && !m_closing && m_pending.size() < kMaxPendingReplies) {
        const HttpRequestReader::Status status = m_reader.next();
        if (status == HttpRequestReader::Status::NeedMore) {
            // Only when nothing is queued or under way: an interim 100 must not overtake an earlier reply.
            if (m_reader.awaitsContinue() && m_pending.empty() && !isBusy()) {
                m_socket->write("HTTP/1.1 100 Continue\r\n\r\n");
                m_reader.markContinueSent();
            }
            break;
        }
        if (status == HttpRequestReader::Status::Failed) {
            protocolError(m_reader.errorStatus(), m_reader.errorMessage());
            break;
        }
        enqueue(m_env.handler->handle(m_reader.request()));
        m_reader.consume();
    }
    if (m_gone)
        m_reader.release();
    else
        m_reader.compact();
}

void Connection::protocolError(int status, const char *message)
{
    qCDebug(lcSim) << "closing connection after protocol error" << status;
    PendingReply reply;
    const nlohmann::json body = OpenAiDialect::error(message, "invalid_request_error", {});
    reply.bytes = httpResponse(status, dumpJson(body), {}, true);
    reply.status = status;
    reply.closeAfter = true;
    enqueue(std::move(reply));
}

void Connection::enqueue(PendingReply reply)
{
    // After a hang nothing on this connection is ever answered, so nothing more is read either.
    if (reply.closeAfter || reply.delivery == Delivery::Hang)
        m_closing = true;
    if (reply.delayMs <= 0 && m_pending.empty() && !isBusy()) {
        send(std::move(reply));
        return;
    }
    const quint64 seq = m_firstSeq + m_pending.size();
    const double delayMs = reply.delayMs;
    reply.ready = delayMs <= 0;
    m_pending.push_back(std::move(reply));
    if (delayMs > 0)
        m_env.due->schedule(delayMs, m_id, DueQueue::Kind::Reply, seq);
}

void Connection::handleDue(DueQueue::Kind kind, quint64 seq)
{
    if (m_gone)
        return;
    if (kind == DueQueue::Kind::Stream) {
        if (m_stream && seq == m_streamGeneration)
            advanceStream(m_stream->next());
        return;
    }
    if (kind == DueQueue::Kind::Drip) {
        if (m_dripping && seq == m_streamGeneration)
            dripNext();
        return;
    }
    if (seq < m_firstSeq || seq - m_firstSeq >= m_pending.size())
        return;
    m_pending[seq - m_firstSeq].ready = true;
    flush();
}

void Connection::flush()
{
    const bool wasFull = m_pending.size() >= kMaxPendingReplies;
    while (!m_gone && !isBusy() && !m_pending.empty() && m_pending.front().ready) {
        PendingReply reply = std::move(m_pending.front());
        m_pending.pop_front();
        ++m_firstSeq;
        const bool closeAfter = reply.closeAfter;
        send(std::move(reply));
        if (closeAfter)
            break;
    }
    if (wasFull && !m_gone && !m_closing && !isBusy() && m_pending.size() < kMaxPendingReplies) {
        processBuffer();
        handleReadyRead();
    }
}

void Connection::send(PendingReply reply)
{
    switch (reply.delivery) {
    case Delivery::Reset:
        ++m_env.stats->resets;
        resetConnection();
        return;
    case Delivery::Hang:
        ++m_env.stats->hangs;
        return;
    case Delivery::Truncate:
    case Delivery::ResetMidBody:
        sendPartial(reply);
        return;
    case Delivery::Drip:
        if (startDrip(reply))
            return;
        break; // no body (HEAD): nothing to drip
    case Delivery::Stream:
        startStream(std::move(reply));
        return;
    case Delivery::Whole:
        break;
    }
    m_socket->write(reply.bytes);
    countSent(reply.status, reply.broken);
    if (reply.closeAfter) {
        m_closing = true;
        m_socket->disconnectFromHost();
    }
}

void Connection::sendPartial(const PendingReply &reply)
{
    // Content-Length announces the whole body; only the first half of it is sent.
    const qsizetype headEnd = reply.bytes.indexOf("\r\n\r\n") + 4;
    m_socket->write(reply.bytes.first(headEnd + (reply.bytes.size() - headEnd) / 2));
    m_closing = true;
    countSent(reply.status, true);
    if (reply.delivery == Delivery::Truncate) {
        m_socket->disconnectFromHost(); // a clean close (FIN) after the partial reply
        return;
    }
    ++m_env.stats->resets;
    m_socket->flush();
    QTimer::singleShot(kResetMidBodyDelayMs, this, [this] {
        if (m_gone)
            return;
#ifdef Q_OS_UNIX
        // Linger 0: close() sends a RST instead of a FIN.
        const qintptr fd = m_socket->socketDescriptor();
        if (fd >= 0) {
            const ::linger hard{1, 0};
            ::setsockopt(int(fd), SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
        }
#endif
        resetConnection();
    });
}

bool Connection::startDrip(const PendingReply &reply)
{
    const qsizetype headEnd = reply.bytes.indexOf("\r\n\r\n") + 4;
    if (headEnd >= reply.bytes.size())
        return false;
    m_socket->write(reply.bytes.first(headEnd));
    m_drip = {reply.bytes.sliced(headEnd),
              0,
              reply.status,
              reply.broken,
              reply.closeAfter,
              std::max(1, reply.dripMs),
              m_env.due->nowMs()};
    m_dripping = true;
    ++m_streamGeneration;
    m_drip.dueMs += m_drip.intervalMs;
    m_env.due->scheduleAt(m_drip.dueMs, m_id, DueQueue::Kind::Drip, m_streamGeneration);
    return true;
}

void Connection::dripNext()
{
    m_socket->write(m_drip.remaining.constData() + m_drip.offset, 1);
    if (++m_drip.offset < m_drip.remaining.size()) {
        m_drip.dueMs += m_drip.intervalMs;
        m_env.due->scheduleAt(m_drip.dueMs, m_id, DueQueue::Kind::Drip, m_streamGeneration);
        return;
    }
    m_dripping = false;
    const Drip done = std::exchange(m_drip, Drip{});
    countSent(done.status, done.broken);
    if (done.closeAfter) {
        m_closing = true;
        m_socket->disconnectFromHost();
        return;
    }
    flush();
}

void Connection::startStream(PendingReply reply)
{
    ++m_env.stats->streamsStarted;
    m_stream = std::make_unique<SseStream>(std::move(*reply.stream));
    m_streamStatus = reply.status;
    m_streamCloseAfter = reply.closeAfter;
    ++m_streamGeneration;
    m_streamDueMs = m_env.due->nowMs();
    advanceStream(m_stream->start());
}

void Connection::advanceStream(SseStream::Step step)
{
    // Steps without a wait between them go out in one go. Each step is due a wait after the one
    // before was due, not after it went out: a late wake-up does not delay the rest of the stream.
    while (true) {
        if (!step.bytes.isEmpty())
            m_socket->write(step.bytes);
        if (m_gone)
            return;
        if (step.end != SseStream::End::None) {
            endStream(step.end);
            return;
        }
        if (step.waitMs > 0) {
            m_streamDueMs += step.waitMs;
            m_env.due->scheduleAt(m_streamDueMs, m_id, DueQueue::Kind::Stream, m_streamGeneration);
            return;
        }
        step = m_stream->next();
    }
}

void Connection::endStream(SseStream::End end)
{
    m_stream.reset();
    Simulator::Stats &stats = *m_env.stats;
    if (end == SseStream::End::Completed) {
        ++stats.streamsCompleted;
        countSent(m_streamStatus, false);
    } else {
        ++stats.streamsBroken;
        countSent(m_streamStatus, true);
    }
    if (end == SseStream::End::Cut || m_streamCloseAfter) {
        m_closing = true;
        m_socket->disconnectFromHost(); // a cut: no end of the chunked body, just a close (FIN)
        return;
    }
    flush();
}

void Connection::countSent(int status, bool broken)
{
    Simulator::Stats &stats = *m_env.stats;
    if (broken)
        ++stats.broken;
    else if (status >= 200 && status < 300)
        ++stats.ok;
    else if (status >= 300 && status < 400)
        ++stats.redirects;
    else if (status == 429)
        ++stats.rateLimited;
    else if (status >= 500)
        ++stats.serverErrors;
    else if (status >= 400)
        ++stats.clientErrors;
}

void Connection::resetConnection()
{
    m_closing = true;
    m_socket->abort(); // emits disconnected() synchronously when connected
    handleDisconnected();
}

} // namespace Sluice::Sim

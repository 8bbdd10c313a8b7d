#pragma once

#include "sim/duequeue.h"
#include "sim/httprequestreader.h"
#include "sim/pendingreply.h"
#include "sim/simulator.h"
#include "sim/ssestream.h"

#include <QObject>

#include <deque>
#include <functional>
#include <memory>

class QTcpSocket;

namespace Sluice::Sim {

class RequestHandler;

/// One accepted HTTP/1.1 connection: reads requests (HttpRequestReader), has them answered
/// (RequestHandler) and writes the replies in request order, each at its time and in its way (whole,
/// truncated, reset, dripped, streamed). Keep-alive and pipelining; `Connection: close` and HTTP/1.0
/// close after the reply. A child of its socket, so it lives exactly as long as the socket object;
/// it is also the context of the socket's connections, which therefore die with it.
class Connection final : public QObject
{
public:
    /// What the simulator lends a connection; everything outlives it.
    struct Env
    {
        RequestHandler *handler = nullptr;
        DueQueue *due = nullptr;
        Simulator::Stats *stats = nullptr;
        std::function<void(quint64 id)> forget; ///< the simulator drops the connection (it is closing)
    };

    Connection(quint64 id, QTcpSocket *socket, Env env);

    quint64 id() const { return m_id; }
    /// Connects the socket's signals and reads what has arrived already.
    void start();
    /// A delayed reply (`seq`), a stream step or a dripped byte (`seq` = its generation) is due.
    void handleDue(DueQueue::Kind kind, quint64 seq);
    /// Drops the connection at once (the simulator closes); replies in progress are lost.
    void abort();

private:
    /// A reply being dripped: later replies wait until its last byte is out.
    struct Drip
    {
        QByteArray remaining;
        qsizetype offset = 0;
        int status = 0;
        bool broken = false;
        bool closeAfter = false;
        int intervalMs = 1;
        double dueMs = 0; ///< when the byte just written was due
    };

    void handleReadyRead();
    void handleDisconnected();
    void processBuffer();
    void protocolError(int status, const char *message);
    void enqueue(PendingReply reply);
    void flush();
    void send(PendingReply reply);
    void sendPartial(const PendingReply &reply);
    bool startDrip(const PendingReply &reply);
    void dripNext();
    void startStream(PendingReply reply);
    void advanceStream(SseStream::Step step);
    void endStream(SseStream::End end);
    void countSent(int status, bool broken);
    void resetConnection();
    bool isBusy() const { return m_dripping || m_stream != nullptr; }

    const quint64 m_id;
    QTcpSocket *const m_socket;
    Env m_env;
    HttpRequestReader m_reader;
    std::deque<PendingReply> m_pending; ///< replies in request order, not yet written
    quint64 m_firstSeq = 0;             ///< sequence number of m_pending.front()
    bool m_closing = false;             ///< read no further requests; close after the queued replies
    bool m_gone = false;                ///< disconnected: never touch the socket again
    Drip m_drip;
    bool m_dripping = false;
    std::unique_ptr<SseStream> m_stream; ///< the stream being written: later replies wait
    quint64 m_streamGeneration = 0;      ///< counts streams and drips, so that no stale entry acts
    double m_streamDueMs = 0;            ///< when the step just taken was due: the schedule never drifts
    int m_streamStatus = 0;
    bool m_streamCloseAfter = false;
};

} // namespace Sluice::Sim

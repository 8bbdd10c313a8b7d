#pragma once

#include "config/projectconfig.h"
#include "net/attempt.h"

#include <QByteArray>
#include <QList>

#include <functional>
#include <utility>

namespace Sluice {

/// What the scheduler sends attempts through: the seam between the engine and the network. The real
/// one is QnamTransport (QNetworkAccessManager lanes on worker threads); tests script replies with a
/// fake (tests/support/faketransport.h) on a manual clock.
///
/// Contract: send() returns a ticket at once; its result reaches the result handler exactly once,
/// later (never from inside a call into the transport), on the thread the transport lives on; after
/// each batch of results the batch handler is called once. cancel() and abortAll() end attempts early:
/// each is still reported once, as cancelled. hasCapacity() is back-pressure: false when another
/// attempt to that endpoint could not start on the wire at once (max_in_flight reached).
class Transport
{
public:
    using ResultHandler = std::function<void(AttemptResult &&)>;

    virtual ~Transport() = default;

    void setResultHandler(ResultHandler handler) { m_handler = std::move(handler); }
    /// Called after each batch of results has gone through the result handler.
    void setBatchHandler(std::function<void()> handler) { m_batchHandler = std::move(handler); }

    /// Sets the endpoints and their keys (index-aligned). Call before the first send.
    virtual void setEndpoints(const QList<EndpointConfig> &endpoints, const QList<QByteArray> &apiKeys) = 0;
    /// Changes an endpoint's concurrency bound while running.
    virtual void setMaxInFlight(int endpoint, int maxInFlight) = 0;
    virtual bool hasCapacity(int endpoint) const = 0;
    virtual int inFlight(int endpoint) const = 0;
    virtual int totalInFlight() const = 0;

    /// Starts an attempt; returns its ticket (never 0).
    virtual quint64 send(int endpoint, Outgoing attempt) = 0;
    /// Ends attempt `ticket` early if it is still going (reported as cancelled).
    virtual void cancel(quint64 ticket) = 0;
    /// Ends every attempt in flight (each reported as cancelled).
    virtual void abortAll() = 0;

protected:
    void deliver(AttemptResult &&result)
    {
        if (m_handler) {
            m_handler(std::move(result));
        }
    }
    void batchDone()
    {
        if (m_batchHandler) {
            m_batchHandler();
        }
    }

private:
    ResultHandler m_handler;
    std::function<void()> m_batchHandler;
};

} // namespace Sluice

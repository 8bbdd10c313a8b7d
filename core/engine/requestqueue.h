#pragma once

#include "io/errorclass.h"
#include "io/records.h"
#include "io/request.h"
#include "io/requestsource.h"
#include "limit/admission.h"

#include <QString>

#include <deque>
#include <functional>
#include <map>
#include <vector>

namespace Sluice {

/// A request the engine holds: waiting, in flight, or waiting for its retry.
struct Pending
{
    Request request;
    int attempts = 0;
    quint64 heldEpoch = 0; ///< the scheduler's block epoch when it joined the queue (overflow accounting)
    int lastEndpoint = -1;
    ErrorClass lastClass = ErrorClass::None;
    QString lastMessage;
    int lastStatus = 0;
    QString lastRequestId;        ///< the last answer's x-request-id / request-id
    double lastRetryAfterMs = -1; ///< what the last answer's Retry-After asked for
    double tokens = -1;           ///< token reservation of the current attempt (estimated when first needed)
    quint64 bodyKey = 0;          ///< tells requests apart for ejection (hash of the body last sent)
    Admission::Grant grant;
    CostAsk cost;          ///< what it may cost (resolved when first needed)
    double costUsd = 0;    ///< what its attempts cost so far
    bool unpriced = false; ///< an attempt used tokens of a model without a price

    /// An attempt cost `usd` (-1: unpriced, and it used tokens).
    void addCost(double usd);
    /// For its record: what it cost, -1 (null) when some of it is unknown.
    double completionCostUsd() const { return unpriced ? -1 : costUsd; }
    /// Its failure record's details: the last answer's status, request id and Retry-After, its cost.
    Completion failureCompletion(const QString &endpointName, double latencyMs) const;
};

/// The requests of a run that are not on the wire: fresh ones (read, never sent) in input order,
/// retries whose wait is over (they go first: rate-limited requests are released first when an endpoint
/// recovers), and retries waiting for their backoff, by due time. Engine-thread only.
class RequestQueue
{
public:
    /// Most input lines handled in one refill, so a file full of bad lines cannot stall the event loop.
    static constexpr int MaxLinesPerRefill = 4096;

    /// Reads ahead from `source` until `lookahead` fresh requests wait, the source has nothing now, or
    /// it ended; items that never became requests go to `rejected`. New requests are stamped with
    /// `epoch`. True when the MaxLinesPerRefill cap stopped it: call again soon.
    bool refill(RequestSource &source, std::size_t lookahead, quint64 epoch,
                const std::function<void(const InputError &)> &rejected);
    /// The source said End: nothing more will come.
    bool inputDone() const { return m_inputDone; }
    /// The last refill found nothing now in the source (a serving engine's callers).
    bool sourceDry() const { return m_sourceDry; }
    /// Items taken from the source so far (requests and rejected ones; given back ones not).
    qint64 taken() const { return m_taken; }
    /// Gives fresh requests that were never sent back to a source that keeps its own order (the
    /// gateway's priorities), newest first, while it takes them.
    void giveBack(RequestSource &source);

    void pushFresh(Pending &&pending) { m_fresh.push_back(std::move(pending)); }
    /// A retry after a backoff: ready at clock time `atMs`.
    void retryAt(double atMs, Pending &&pending) { m_waiting.emplace(atMs, std::move(pending)); }
    /// A retry with no wait of its own (the limiter holds it until an endpoint can take it).
    void retryWhenReady(Pending &&pending) { m_ready.push_back(std::move(pending)); }
    /// Moves the retries whose backoff ended by `nowMs` to the ready ones.
    void releaseDue(double nowMs);

    /// The request to try next: the first ready retry, or (none, or `retriesHeld`) the first fresh one;
    /// nullptr when there is none.
    Pending *head(bool retriesHeld);
    /// Removes and returns head(retriesHeld) (which must exist).
    Pending takeHead(bool retriesHeld);
    /// Whether head(false) would be a ready retry.
    bool retryFirst() const { return !m_ready.empty(); }

    std::size_t freshCount() const { return m_fresh.size(); }
    std::size_t readyCount() const { return m_ready.size(); }
    std::size_t waitingCount() const { return m_waiting.size(); }
    bool empty() const { return m_fresh.empty() && m_ready.empty() && m_waiting.empty(); }
    /// When the first backoff ends; +infinity when none waits.
    double nextDueMs() const;

    /// Every retry (ready, then waiting), leaving none.
    std::vector<Pending> drainRetries();
    /// Every fresh request, leaving none.
    std::vector<Pending> drainFresh();

private:
    std::deque<Pending> m_fresh;
    std::deque<Pending> m_ready;
    std::multimap<double, Pending> m_waiting;
    bool m_inputDone = false;
    bool m_sourceDry = false;
    qint64 m_taken = 0;
};

} // namespace Sluice

#include "prometheustext.h"

#include <algorithm>

namespace Sluice {

namespace {

class Writer
{
public:
    void family(const char *name, const char *type, const char *help)
    {
        m_out += "# HELP ";
        m_out += name;
        m_out += ' ';
        m_out += help;
        m_out += "\n# TYPE ";
        m_out += name;
        m_out += ' ';
        m_out += type;
        m_out += '\n';
    }
    void sample(const char *name, const QByteArray &labels, double value)
    {
        m_out += name;
        if (!labels.isEmpty()) {
            m_out += '{' + labels + '}';
        }
        m_out += ' ';
        m_out += QByteArray::number(value, 'g', 15);
        m_out += '\n';
    }
    void sample(const char *name, double value) { sample(name, QByteArray(), value); }
    /// The `_bucket`, `_sum` and `_count` samples of one histogram (its family written before).
    void histogram(const char *name, const QByteArray &labels, const DurationHistogram &h)
    {
        const QByteArray bucket = QByteArray(name) + "_bucket";
        const QByteArray prefix = labels.isEmpty() ? QByteArray() : labels + ',';
        qint64 cumulative = 0;
        for (std::size_t i = 0; i < DurationHistogram::Bounds.size(); ++i) {
            cumulative += h.counts[i];
            sample(bucket.constData(),
                   prefix + "le=\"" + QByteArray::number(DurationHistogram::Bounds[i], 'g', 6) + '"',
                   double(cumulative));
        }
        sample(bucket.constData(), prefix + "le=\"+Inf\"", double(h.count));
        const QByteArray sum = QByteArray(name) + "_sum";
        const QByteArray count = QByteArray(name) + "_count";
        sample(sum.constData(), labels, h.sumS);
        sample(count.constData(), labels, double(h.count));
    }
    QByteArray take() { return std::move(m_out); }

private:
    QByteArray m_out;
};

QByteArray label(const char *key, const QString &value)
{
    return QByteArray(key) + "=\"" + PrometheusText::escapeLabel(value) + '"';
}

/// Run-wide counters and gauges (the engine's snapshot).
void writeRun(Writer &w, const MetricsSnapshot &s, const GatewayMetrics &m)
{
    w.family("sluice_requests_issued_total", "counter", "Attempts sent upstream (first sends and retries).");
    w.sample("sluice_requests_issued_total", double(s.issued));
    w.family("sluice_requests_retries_total", "counter", "Attempts that were retries.");
    w.sample("sluice_requests_retries_total", double(s.retries));
    w.family("sluice_requests_finished_total", "counter", "Requests that reached their final outcome.");
    w.sample("sluice_requests_finished_total", label("outcome", QStringLiteral("success")),
             double(s.succeeded));
    w.sample("sluice_requests_finished_total", label("outcome", QStringLiteral("error")), double(s.failed));
    w.family("sluice_requests_overflow_total", "counter",
             "Requests held back because no endpoint had budget or a free connection.");
    w.sample("sluice_requests_overflow_total", double(s.overflow));
    w.family("sluice_requests_exceptions_total", "counter", "429 answers received from upstream.");
    w.sample("sluice_requests_exceptions_total", double(s.rateLimited));
    w.family("sluice_request_errors_total", "counter", "Requests that ended in an error, by error class.");
    for (auto it = s.errorsByClass.cbegin(); it != s.errorsByClass.cend(); ++it) {
        w.sample("sluice_request_errors_total", label("class", it.key()), double(it.value()));
    }
    w.family("sluice_tokens_total", "counter", "Tokens reported in upstream usage.");
    w.sample("sluice_tokens_total", label("direction", QStringLiteral("input")), double(s.inputTokens));
    w.sample("sluice_tokens_total", label("direction", QStringLiteral("output")), double(s.outputTokens));

    w.family("sluice_queue_depth", "gauge", "Requests waiting to be sent (queued callers included).");
    w.sample("sluice_queue_depth", double(s.queued));
    w.family("sluice_queue_capacity", "gauge", "Most callers the gateway queue holds before answering 429.");
    w.sample("sluice_queue_capacity", double(m.maxQueue));
    w.family("sluice_in_flight", "gauge", "Attempts in flight upstream.");
    w.sample("sluice_in_flight", double(s.inFlight));
    w.family("sluice_waiting_retry", "gauge", "Requests waiting for their retry backoff to end.");
    w.sample("sluice_waiting_retry", double(s.waitingRetry));
    w.family("sluice_finished_per_second", "gauge",
             "Requests finished in the last whole second (0 once a whole second passes without any).");
    w.sample("sluice_finished_per_second", s.currentRps);
}

/// What the attempts cost, what is committed to those in flight, and the budget.
void writeCost(Writer &w, const CostStats &c)
{
    w.family("sluice_cost_spent_usd_total", "counter",
             "What the attempts cost in USD (priced replies; failed attempts charged what they cost).");
    w.sample("sluice_cost_spent_usd_total", c.spentUsd);
    w.family("sluice_cost_reserved_usd", "gauge",
             "Worst cases committed to attempts in flight (budgeted runs).");
    w.sample("sluice_cost_reserved_usd", c.reservedUsd);
    if (c.budgetUsd > 0) {
        w.family("sluice_cost_budget_usd", "gauge", "The cost budget (limits.max_cost_usd or --max-cost).");
        w.sample("sluice_cost_budget_usd", c.budgetUsd);
    }
}

/// Per-endpoint counters, gauges and latency histograms.
void writeEndpoints(Writer &w, const MetricsSnapshot &s, const GatewayMetrics &m)
{
    w.family("sluice_endpoint_attempts_total", "counter", "Attempts per endpoint, by result.");
    for (const EndpointStats &e : s.endpoints) {
        const QByteArray ep = label("endpoint", e.name);
        w.sample("sluice_endpoint_attempts_total", ep + ',' + label("result", QStringLiteral("sent")),
                 double(e.sent));
        w.sample("sluice_endpoint_attempts_total", ep + ',' + label("result", QStringLiteral("ok")),
                 double(e.ok));
        w.sample("sluice_endpoint_attempts_total", ep + ',' + label("result", QStringLiteral("rate_limited")),
                 double(e.rateLimited));
        w.sample("sluice_endpoint_attempts_total", ep + ',' + label("result", QStringLiteral("error")),
                 double(e.errors));
    }
    w.family("sluice_endpoint_in_flight", "gauge", "Attempts in flight per endpoint.");
    for (const EndpointStats &e : s.endpoints) {
        w.sample("sluice_endpoint_in_flight", label("endpoint", e.name), e.inFlight);
    }
    w.family("sluice_endpoint_limit_rps", "gauge", "Effective request-rate limit per endpoint (0 = none).");
    for (const EndpointStats &e : s.endpoints) {
        w.sample("sluice_endpoint_limit_rps", label("endpoint", e.name), e.limitRps);
    }
    w.family("sluice_endpoint_up", "gauge", "1 when the endpoint takes requests now (active or probing).");
    for (const EndpointStats &e : s.endpoints) {
        const bool up = e.state == EndpointState::Active || e.state == EndpointState::Probing;
        w.sample("sluice_endpoint_up", label("endpoint", e.name) + ',' + label("state", toString(e.state)),
                 up ? 1 : 0);
    }
    w.family("sluice_endpoint_request_duration_seconds", "histogram",
             "Upstream latency of the successful attempts, per endpoint.");
    for (const EndpointStats &e : s.endpoints) {
        w.histogram("sluice_endpoint_request_duration_seconds", label("endpoint", e.name),
                    m.upstreamDuration.value(e.name));
    }
    w.family("sluice_endpoint_ttft_seconds", "histogram",
             "Time to first token of the successful streamed attempts, per endpoint.");
    for (const EndpointStats &e : s.endpoints) {
        w.histogram("sluice_endpoint_ttft_seconds", label("endpoint", e.name), m.ttft.value(e.name));
    }
}

/// What each caller key's calls cost, and the keys' budgets.
void writeKeyCosts(Writer &w, const QList<GatewayMetrics::Key> &keys)
{
    w.family("sluice_gateway_key_cost_usd_total", "counter",
             "What each caller key's calls cost in USD (priced outcomes, every attempt charged).");
    for (const GatewayMetrics::Key &k : keys) {
        w.sample("sluice_gateway_key_cost_usd_total", label("key", k.name), k.spentUsd);
    }
    w.family("sluice_gateway_key_budget_usd", "gauge",
             "Each caller key's max_cost_usd (keys that have one).");
    for (const GatewayMetrics::Key &k : keys) {
        if (k.budgetUsd > 0) {
            w.sample("sluice_gateway_key_budget_usd", label("key", k.name), k.budgetUsd);
        }
    }
}

/// The gateway's callers: durations, how calls ended, caller keys.
void writeCallers(Writer &w, const GatewayMetrics &m)
{
    const GatewayCounters &g = m.callers;
    w.family("sluice_gateway_request_duration_seconds", "histogram",
             "Time from accepting a caller's request to answering it (queue wait included).");
    w.histogram("sluice_gateway_request_duration_seconds", QByteArray(), m.callerDuration);

    w.family("sluice_gateway_callers_total", "counter", "Gateway callers, by how their call ended.");
    const std::pair<const char *, qint64> results[] = {
        {"accepted", g.accepted},
        {"answered", g.answered},
        {"queue_full", g.queueFull},
        {"invalid", g.invalid},
        {"deadline_queued", g.deadlineQueued},
        {"deadline_sent", g.deadlineSent},
        {"gone_queued", g.goneQueued},
        {"gone_later", g.goneLater},
        {"stopped", g.stopped},
        {"budget_exhausted", g.budgetExhausted},
    };
    for (const auto &[name, value] : results) {
        w.sample("sluice_gateway_callers_total", label("result", QString::fromLatin1(name)), double(value));
    }
    w.family("sluice_gateway_callers_waiting", "gauge", "Callers waiting for an answer now.");
    w.sample("sluice_gateway_callers_waiting", double(g.waiting));
    w.family("sluice_gateway_streams_active", "gauge", "Streamed answers under way now.");
    w.sample("sluice_gateway_streams_active", double(g.streamsActive));
    w.family("sluice_gateway_streams_total", "counter", "Streamed answers begun, by how they ended.");
    const std::pair<const char *, qint64> streams[] = {
        {"completed", g.streamsCompleted}, {"failed", g.streamsFailed}, {"gone", g.streamsGone}};
    for (const auto &[name, value] : streams) {
        w.sample("sluice_gateway_streams_total", label("result", QString::fromLatin1(name)), double(value));
    }
    if (!m.keys.isEmpty()) {
        w.family("sluice_gateway_key_requests_total", "counter",
                 "Calls per caller key (by its name in the project): admitted, over the key's rpm, or "
                 "refused at its cost budget.");
        for (const GatewayMetrics::Key &k : m.keys) {
            const QByteArray key = label("key", k.name);
            w.sample("sluice_gateway_key_requests_total",
                     key + ',' + label("result", QStringLiteral("admitted")), double(k.admitted));
            w.sample("sluice_gateway_key_requests_total",
                     key + ',' + label("result", QStringLiteral("rate_limited")), double(k.rateLimited));
            w.sample("sluice_gateway_key_requests_total",
                     key + ',' + label("result", QStringLiteral("budget_exhausted")),
                     double(k.budgetRefused));
        }
        writeKeyCosts(w, m.keys);
        w.family("sluice_gateway_auth_failures_total", "counter",
                 "Calls refused 401: no key, or an unknown key.");
        w.sample("sluice_gateway_auth_failures_total", label("reason", QStringLiteral("missing")),
                 double(m.authMissing));
        w.sample("sluice_gateway_auth_failures_total", label("reason", QStringLiteral("unknown")),
                 double(m.authUnknown));
    }
}

/// Shared limits through Redis (only with a project "shared" block).
void writeShared(Writer &w, const SharedLimitsStats &r)
{
    if (r.enabled) {
        const QByteArray ns = label("namespace", r.nameSpace);
        w.family("sluice_shared_redis_up", "gauge",
                 "1 when Redis answers; `state` says what the limits do meanwhile (on_redis_down).");
        w.sample("sluice_shared_redis_up", ns + ',' + label("state", r.state),
                 r.state == QLatin1String("connected") ? 1 : 0);
        w.family("sluice_shared_processes", "gauge", "Sluice processes drawing on the same budgets now.");
        w.sample("sluice_shared_processes", ns, r.processes);
        w.family("sluice_shared_leases_total", "counter", "Lease scripts answered by Redis, by answer.");
        w.sample("sluice_shared_leases_total", ns + ',' + label("result", QStringLiteral("granted")),
                 double(r.leases - r.leaseDenials));
        w.sample("sluice_shared_leases_total", ns + ',' + label("result", QStringLiteral("denied")),
                 double(r.leaseDenials));
        w.family("sluice_shared_permits_total", "counter", "Request slots leased from the shared budget.");
        w.sample("sluice_shared_permits_total", ns + ',' + label("result", QStringLiteral("used")),
                 double(r.permitsUsed));
        w.sample("sluice_shared_permits_total", ns + ',' + label("result", QStringLiteral("expired")),
                 double(r.permitsExpired));
        w.family("sluice_shared_cooldowns_total", "counter", "Shared 429 cooldowns published and received.");
        w.sample("sluice_shared_cooldowns_total", ns + ',' + label("direction", QStringLiteral("published")),
                 double(r.cooldownsPublished));
        w.sample("sluice_shared_cooldowns_total", ns + ',' + label("direction", QStringLiteral("received")),
                 double(r.cooldownsReceived));
        w.family("sluice_shared_redis_down_seconds_total", "counter", "Time Redis was unreachable.");
        w.sample("sluice_shared_redis_down_seconds_total", ns, r.downMs / 1000.0);
        w.family("sluice_shared_sent_while_down_total", "counter",
                 "Requests sent on local limits while Redis was down (fail_open).");
        w.sample("sluice_shared_sent_while_down_total", ns, double(r.sentWhileDown));
        w.family("sluice_shared_lease_rtt_p50_seconds", "gauge", "Median round trip of the lease script.");
        w.sample("sluice_shared_lease_rtt_p50_seconds", ns, r.leaseRttP50Ms / 1000.0);
        w.family("sluice_shared_lease_rtt_p99_seconds", "gauge",
                 "99th percentile round trip of the lease script.");
        w.sample("sluice_shared_lease_rtt_p99_seconds", ns, r.leaseRttP99Ms / 1000.0);
    }
}

} // namespace

void DurationHistogram::observe(double seconds)
{
    seconds = std::max(0.0, seconds);
    const auto bound = std::lower_bound(Bounds.begin(), Bounds.end(), seconds);
    if (bound != Bounds.end()) {
        ++counts[std::size_t(bound - Bounds.begin())];
    }
    sumS += seconds;
    ++count;
}

QByteArray PrometheusText::escapeLabel(const QString &value)
{
    QByteArray out;
    const QByteArray utf8 = value.toUtf8();
    out.reserve(utf8.size());
    for (const char c : utf8) {
        if (c == '\\') {
            out += "\\\\";
        } else if (c == '"') {
            out += "\\\"";
        } else if (c == '\n') {
            out += "\\n";
        } else {
            out += c;
        }
    }
    return out;
}

QByteArray PrometheusText::render(const MetricsSnapshot &s, const GatewayMetrics &m)
{
    Writer w;
    writeRun(w, s, m);
    writeCost(w, s.cost);
    writeEndpoints(w, s, m);
    writeCallers(w, m);
    writeShared(w, s.shared);
    return w.take();
}

} // namespace Sluice

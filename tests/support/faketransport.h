#pragma once

#include "manualclock.h"
#include "net/classifier.h"
#include "net/provideradapter.h"
#include "net/transport.h"

#include <QNetworkReply>

#include <nlohmann/json.hpp>

#include <functional>
#include <map>
#include <vector>

namespace Sluice::Test {

/// A Transport whose replies a test scripts, on the manual clock (Nextcloud's FakeQNAM idea one level
/// up): every send is answered by the script's Reply after its delay, in clock order, as the test
/// advances the clock. Honours max_in_flight (hasCapacity), cancel() and abortAll() like the real one,
/// and never reports from inside a call into it. Records every attempt for the test to check.
class FakeTransport final : public Transport
{
public:
    /// What one attempt gets.
    struct Reply
    {
        enum class Failure {
            None,    ///< an HTTP answer with `status`
            Reset,   ///< the connection closed without an answer
            Refused, ///< the connection was refused
            Timeout, ///< the attempt's deadline passed
        };
        int status = 200;
        double delayMs = 1;      ///< from the send to the result
        nlohmann::json body;     ///< null: a chat.completion with `usage` for a 2xx, nothing else
        RateLimitInfo rateLimit; ///< what the reply's rate-limit headers said
        Failure failure = Failure::None;
        bool truncated = false;  ///< the body did not arrive whole (Content-Length not met)
        qint64 inputTokens = 10; ///< usage of the default 2xx body
        qint64 outputTokens = 5;
        /// When the attempt asked for a stream (Outgoing::stream) and the status is 2xx: the reply is a
        /// stream of `chunks` content events, the first `ttftMs` after the send, then one every
        /// `chunkIntervalMs`, ending as `streamFailure` says (None: whole; its body is the reply as
        /// usual). A failed stream reports `reportedUsage` (spent) and no body; `committed`: a gateway
        /// caller had part of it already.
        StreamFailure streamFailure = StreamFailure::None;
        double ttftMs = 20;
        int chunks = 5;
        double chunkIntervalMs = 10;
        Usage reportedUsage;
        bool committed = false;
    };
    /// One attempt as sent.
    struct Sent
    {
        quint64 ticket = 0;
        int endpoint = 0;
        double atMs = 0;
        nlohmann::json body; ///< the JSON sent
        QByteArray apiKey;
        QList<QPair<QByteArray, QByteArray>> headers;
        bool stream = false; ///< Outgoing::stream
        bool cancelled = false;
    };
    using Script = std::function<Reply(const Sent &sent)>;

    explicit FakeTransport(ManualClock *clock)
        : m_clock(clock)
        , m_timer(clock, nullptr, [this] { deliverDue(); })
    {
    }

    void setScript(Script script) { m_script = std::move(script); }

    void setEndpoints(const QList<EndpointConfig> &endpoints, const QList<QByteArray> &) override
    {
        m_maxInFlight.clear();
        for (const EndpointConfig &e : endpoints) {
            m_maxInFlight.push_back(e.maxInFlight);
        }
        m_inFlight.assign(m_maxInFlight.size(), 0);
        m_peak.assign(m_maxInFlight.size(), 0);
    }
    void setMaxInFlight(int endpoint, int maxInFlight) override { m_maxInFlight.at(endpoint) = maxInFlight; }
    bool hasCapacity(int endpoint) const override
    {
        return m_inFlight.at(endpoint) < m_maxInFlight.at(endpoint);
    }
    int inFlight(int endpoint) const override { return m_inFlight.at(endpoint); }
    int totalInFlight() const override { return int(m_pending.size()); }

    quint64 send(int endpoint, Outgoing attempt) override
    {
        Sent sent;
        sent.ticket = ++m_nextTicket;
        sent.endpoint = endpoint;
        sent.atMs = m_clock->nowMs();
        sent.body = nlohmann::json::parse(attempt.body.constData(),
                                          attempt.body.constData() + attempt.body.size(), nullptr, false);
        sent.apiKey = attempt.apiKey;
        sent.headers = attempt.headers;
        sent.stream = attempt.stream;
        const Reply reply = m_script ? m_script(sent) : Reply{};
        m_sent.push_back(sent);
        ++m_inFlight.at(endpoint);
        m_peak.at(endpoint) = std::max(m_peak.at(endpoint), m_inFlight.at(endpoint));
        m_pending.emplace(sent.atMs + std::max(0.0, reply.delayMs), Pending{sent, reply});
        arm();
        return sent.ticket;
    }
    void cancel(quint64 ticket) override
    {
        for (auto it = m_pending.begin(); it != m_pending.end(); ++it) {
            if (it->second.sent.ticket == ticket) {
                Pending p = std::move(it->second);
                m_pending.erase(it);
                p.sent.cancelled = true;
                m_pending.emplace(m_clock->nowMs(), std::move(p));
                arm();
                return;
            }
        }
    }
    void abortAll() override
    {
        std::vector<quint64> tickets;
        for (const auto &[due, p] : m_pending) {
            tickets.push_back(p.sent.ticket);
        }
        for (const quint64 t : tickets) {
            cancel(t);
        }
    }

    const std::vector<Sent> &sent() const { return m_sent; }
    int sentTo(int endpoint) const
    {
        return int(std::count_if(m_sent.begin(), m_sent.end(),
                                 [endpoint](const Sent &s) { return s.endpoint == endpoint; }));
    }
    /// The most attempts to `endpoint` in flight at once.
    int peakInFlight(int endpoint) const { return m_peak.at(endpoint); }
    /// The user text of a sent chat or messages body (its last message's content).
    static QString textOf(const Sent &sent)
    {
        const auto messages = sent.body.find("messages");
        if (messages == sent.body.end() || !messages->is_array() || messages->empty()) {
            return QString();
        }
        const auto content = messages->back().find("content");
        return content != messages->back().end() && content->is_string()
                   ? QString::fromStdString(content->get<std::string>())
                   : QString();
    }

private:
    struct Pending
    {
        Sent sent;
        Reply reply;
    };

    void arm()
    {
        if (!m_pending.empty()) {
            m_timer.startAt(m_pending.begin()->first);
        }
    }

    void deliverDue()
    {
        const double now = m_clock->nowMs();
        bool any = false;
        while (!m_pending.empty() && m_pending.begin()->first <= now) {
            Pending p = std::move(m_pending.begin()->second);
            m_pending.erase(m_pending.begin());
            --m_inFlight.at(p.sent.endpoint);
            any = true;
            deliver(resultOf(p, now));
        }
        arm();
        if (any) {
            batchDone();
        }
    }

    static AttemptResult resultOf(const Pending &p, double now)
    {
        AttemptResult r;
        r.ticket = p.sent.ticket;
        r.endpoint = p.sent.endpoint;
        r.latencyMs = now - p.sent.atMs;
        AttemptReport &report = r.report;
        report.deadlineMs = 120000;
        if (p.sent.cancelled) {
            report.cancelled = true;
            report.networkError = QNetworkReply::OperationCanceledError;
            return r;
        }
        switch (p.reply.failure) {
        case Reply::Failure::Reset:
            report.networkError = QNetworkReply::RemoteHostClosedError;
            report.networkErrorString = QStringLiteral("Connection closed");
            return r;
        case Reply::Failure::Refused:
            report.networkError = QNetworkReply::ConnectionRefusedError;
            report.networkErrorString = QStringLiteral("Connection refused");
            return r;
        case Reply::Failure::Timeout:
            report.timedOut = true;
            report.networkError = QNetworkReply::OperationCanceledError;
            return r;
        case Reply::Failure::None:
            break;
        }
        report.httpStatus = p.reply.status;
        report.bodyComplete = !p.reply.truncated;
        r.rateLimit = p.reply.rateLimit;
        nlohmann::json body = p.reply.body;
        if (body.is_null() && p.reply.status >= 200 && p.reply.status < 300) {
            body = {{"id", "chatcmpl-fake"},
                    {"object", "chat.completion"},
                    {"choices",
                     {{{"index", 0},
                       {"message", {{"role", "assistant"}, {"content", "ok"}}},
                       {"finish_reason", "stop"}}}},
                    {"usage",
                     {{"prompt_tokens", p.reply.inputTokens}, {"completion_tokens", p.reply.outputTokens}}}};
        }
        if (p.sent.stream && p.reply.status >= 200 && p.reply.status < 300 && streamed(p.reply, r)) {
            return r; // a failed stream
        }
        r.bodyText = body.is_null() ? QByteArray() : QByteArray::fromStdString(body.dump());
        report.bodyIsJson = body.is_object();
        if (p.reply.status >= 200 && p.reply.status < 300) {
            if (report.bodyIsJson && !p.reply.truncated) {
                // A scripted body's usage is read as the real transport reads it (cached tokens too).
                r.usage = body.contains("usage") ? ProviderAdapter::usage(body, Provider::OpenAI)
                                                 : Usage{p.reply.inputTokens, p.reply.outputTokens};
            }
        } else {
            r.body = body;
            if (report.bodyIsJson) {
                Classifier::readApiError(body, report);
            }
        }
        return r;
    }

    /// Fills the stream part of a 2xx result; true when the stream failed (the result is complete).
    static bool streamed(const Reply &reply, AttemptResult &r)
    {
        StreamStats &s = r.stream;
        s.streamed = true;
        const int chunks = reply.streamFailure == StreamFailure::None ? reply.chunks : reply.chunks / 2;
        s.contentEvents = chunks;
        if (chunks > 0) {
            s.ttftMs = reply.ttftMs;
            s.lastContentMs = reply.ttftMs + (chunks - 1) * reply.chunkIntervalMs;
            s.gapsMs.assign(std::size_t(chunks - 1), float(reply.chunkIntervalMs));
        }
        s.committed = reply.committed;
        r.report.streamChunks = chunks;
        if (reply.streamFailure == StreamFailure::None) {
            return false;
        }
        r.report.streamFailure = reply.streamFailure;
        r.report.stallMs = 30000;
        r.usage = reply.reportedUsage;
        if (reply.streamFailure == StreamFailure::ErrorEvent) {
            r.body = {{"type", "error"},
                      {"error", {{"type", "overloaded_error"}, {"message", "Overloaded"}}}};
            Classifier::readApiError(r.body, r.report);
        }
        return true;
    }

    ManualClock *m_clock;
    ClockTimer m_timer;
    Script m_script;
    std::vector<int> m_maxInFlight;
    std::vector<int> m_inFlight;
    std::vector<int> m_peak;
    std::multimap<double, Pending> m_pending; ///< by due time
    std::vector<Sent> m_sent;
    quint64 m_nextTicket = 0;
};

} // namespace Sluice::Test

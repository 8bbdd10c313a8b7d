#include "engine.h"

#include "io/records.h"
#include "net/provideradapter.h"
#include "shared/sharedlimits.h"

#include <QDateTime>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QLoggingCategory>
#include <QRandomGenerator>

#include <algorithm>
#include <cmath>
#include <limits>

namespace Sluice {

Q_LOGGING_CATEGORY(lcEngine, "sluice.engine")

namespace {

/// Most input lines handled in one refill, so a file full of bad lines cannot stall the event loop.
constexpr int MaxLinesPerRefill = 4096;

/// Fast newline count for progress (not a parse: blank lines are counted too).
qint64 countLines(const QString &path)
{
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly)) {
        return 0;
    }
    qint64 lines = 0;
    char last = '\n';
    QByteArray chunk(1 << 20, Qt::Uninitialized);
    for (;;) {
        const qint64 n = file.read(chunk.data(), chunk.size());
        if (n <= 0) {
            break;
        }
        lines += QByteArrayView(chunk.constData(), n).count('\n');
        last = chunk.at(n - 1);
    }
    return lines + (last != '\n' ? 1 : 0);
}

} // namespace

/// A file run's source: the JSONL reader.
class Engine::FileSource : public RequestSource
{
public:
    FileSource(JsonlReader &reader, const RunOptions &options)
        : m_reader(reader)
        , m_options(options)
    {
    }

    Item next() override
    {
        JsonlReader::Item item = m_reader.next();
        // `--shard K/N`: lines of the other processes are not this run's (no record here).
        while ((item.kind == JsonlReader::Item::Kind::Request && !m_options.inShard(item.request.line)) ||
               (item.kind == JsonlReader::Item::Kind::Invalid && !m_options.inShard(item.error.line))) {
            item = m_reader.next();
        }
        Item out;
        switch (item.kind) {
        case JsonlReader::Item::Kind::Request:
            out.kind = Item::Kind::Request;
            out.request = std::move(item.request);
            break;
        case JsonlReader::Item::Kind::Invalid:
            out.kind = Item::Kind::Invalid;
            out.error = std::move(item.error);
            break;
        case JsonlReader::Item::Kind::End:
            out.kind = Item::Kind::End;
            if (!m_reader.readError().isEmpty()) {
                qCWarning(lcEngine).noquote() << m_reader.readError();
            }
            break;
        }
        return out;
    }

private:
    JsonlReader &m_reader;
    const RunOptions &m_options;
};

/// A file run's sink: one record per line in the results or the errors file, journaled.
class Engine::FileSink : public OutcomeSink
{
public:
    explicit FileSink(Engine &engine)
        : m_engine(engine)
    {
    }

    void succeeded(const Request &request, const QByteArray &bodyText, const Completion &completion) override
    {
        // The reply's own text goes into the record: parsed once (for usage and validity, on the
        // transport's thread), never serialized again.
        m_engine.m_results.writeLine(
            Records::resultLine(m_engine.m_options.runId, request, bodyText, completion));
        m_engine.recordWritten(request.line, true);
    }
    void failed(const Request &request, ErrorClass cls, const QString &message, const Completion &completion,
                const nlohmann::json &) override
    {
        m_engine.m_errors.write(Records::error(request, cls, message, completion));
        m_engine.recordWritten(request.line, false);
    }
    void rejected(const InputError &error) override
    {
        m_engine.m_errors.write(Records::inputError(error));
        m_engine.recordWritten(error.line, false);
    }

private:
    Engine &m_engine;
};

Engine::Engine(ProjectConfig project, RunOptions options, QObject *parent)
    : Engine(std::move(project), std::move(options), SteadyClock::instance(), nullptr, parent)
{
}

Engine::Engine(ProjectConfig project, RunOptions options, const Clock *clock, RandomSource *random,
               QObject *parent)
    : QObject(parent)
    , m_project(std::move(project))
    , m_options(std::move(options))
    , m_clock(clock)
    , m_ownRandom(random ? nullptr : std::make_unique<DefaultRandom>())
    , m_random(random ? random : m_ownRandom.get())
    , m_limiter(clock)
    , m_retry(m_project.limits.retry, m_random)
    , m_transport(clock, this)
    , m_wakeTimer(this)
    , m_tickTimer(this)
    , m_flushSoon(this)
{
    if (m_options.runId.isEmpty()) {
        m_options.runId =
            QStringLiteral("run_%1").arg(QRandomGenerator::global()->generate(), 8, 16, QLatin1Char('0'));
    }
    const int n = int(m_project.endpoints.size());
    m_balancer.setCount(n);
    m_limiter.setEndpointCount(n);
    m_limiter.setGlobalRate(m_project.limits.rps);
    m_limiter.setGlobalTpm(m_project.limits.tpm);
    m_quotaNoticed.assign(std::size_t(n), false);
    if (m_project.shared.isEnabled()) {
        QList<SharedLimits::Endpoint> shared;
        for (const EndpointConfig &e : std::as_const(m_project.endpoints)) {
            shared.append({e.name, e.rpm, e.tpm});
        }
        m_shared = new SharedLimits(m_project.shared, shared, clock, this);
        // Queued: budgets arrive inside hiredis's read handler, which must not re-enter the engine.
        connect(m_shared, &SharedLimits::changed, this, &Engine::pump, Qt::QueuedConnection);
        connect(m_shared, &SharedLimits::stateChanged, this, &Engine::notice);
    }
    int totalInFlight = 0;
    for (int i = 0; i < n; ++i) {
        const EndpointConfig &e = m_project.endpoints.at(i);
        m_balancer.setWeight(i, e.weight);
        configureEndpointLimits(i);
        m_retryBudgets.emplace_back(clock);
        totalInFlight += e.maxInFlight;
    }
    m_lookahead = std::size_t(std::clamp(totalInFlight * 2, 256, 200000));

    m_wakeTimer.setSingleShot(true);
    m_wakeTimer.setTimerType(Qt::PreciseTimer);
    connect(&m_wakeTimer, &QTimer::timeout, this, &Engine::pump);
    m_tickTimer.setInterval(m_options.tickMs);
    connect(&m_tickTimer, &QTimer::timeout, this, &Engine::tick);
    m_flushSoon.setSingleShot(true);
    m_flushSoon.setInterval(0);
    connect(&m_flushSoon, &QTimer::timeout, this, &Engine::flushOutputs);
    m_transport.setResultHandler([this](AttemptResult &&r) { handleResult(std::move(r)); });
    // Replies arrive in batches: the queue is pumped once per batch, not once per reply.
    m_transport.setBatchHandler([this] {
        if (m_state == RunState::Running) {
            pump();
        } else {
            maybeFinish();
        }
    });
}

Engine::Engine(ProjectConfig project, RunOptions options, RequestSource *source, OutcomeSink *sink,
               QObject *parent)
    : Engine(std::move(project), std::move(options), source, sink, SteadyClock::instance(), parent)
{
}

Engine::Engine(ProjectConfig project, RunOptions options, RequestSource *source, OutcomeSink *sink,
               const Clock *clock, QObject *parent)
    : Engine(std::move(project), std::move(options), clock, nullptr, parent)
{
    m_serving = true;
    m_source = source;
    m_sink = sink;
    // One request at a time out of the source: priorities, deadlines and callers that leave are the
    // source's business until the request can really go.
    m_lookahead = 1;
}

Engine::~Engine()
{
    if (m_source) {
        m_source->setWakeHandler(nullptr); // a serving engine's source outlives it
    }
    m_transport.setResultHandler(nullptr);
    m_transport.setBatchHandler(nullptr);
}

QString Engine::errorsPath() const
{
    if (!m_options.errorsPath.isEmpty()) {
        return m_options.errorsPath;
    }
    return QFileInfo(m_options.outPath).dir().filePath(QStringLiteral("errors.jsonl"));
}

QString Engine::redacted(QString text) const
{
    return m_secrets.redacted(std::move(text));
}

QString Engine::endpointName(int endpoint) const
{
    return endpoint >= 0 ? m_project.endpoints.at(endpoint).name : QString();
}

Result<void> Engine::start()
{
    if (m_state != RunState::Idle) {
        return Error{Error::Code::InvalidConfig, QStringLiteral("the run was already started"), 0};
    }
    if (auto valid = m_project.validate(QStringLiteral("project")); !valid) {
        return valid.error();
    }
    QList<QByteArray> keys;
    for (const EndpointConfig &e : std::as_const(m_project.endpoints)) {
        QByteArray key = m_options.apiKeys.value(e.name);
        if (key.isEmpty() && !e.apiKeyEnv.isEmpty()) {
            key = qgetenv(e.apiKeyEnv.toLocal8Bit().constData());
            if (key.isEmpty()) {
                return Error{
                    Error::Code::InvalidConfig,
                    QStringLiteral("endpoint \"%1\": environment variable %2 (api_key_env) is not set")
                        .arg(e.name, e.apiKeyEnv),
                    0};
            }
        }
        keys.append(key);
    }

    m_secrets = Secrets(keys);
    if (m_serving) {
        return startSending(keys);
    }

    m_reader = std::make_unique<JsonlReader>(m_options.requestsPath, m_options.reader);
    if (auto opened = m_reader->open(); !opened) {
        return opened.error();
    }
    if (QFileInfo(m_options.outPath).absoluteFilePath() ==
            QFileInfo(m_options.requestsPath).absoluteFilePath() ||
        QFileInfo(errorsPath()).absoluteFilePath() == QFileInfo(m_options.requestsPath).absoluteFilePath()) {
        return Error{Error::Code::InvalidConfig,
                     QStringLiteral("the output files must not be the input file"), 0};
    }
    if (QFileInfo(m_options.outPath).absoluteFilePath() == QFileInfo(errorsPath()).absoluteFilePath()) {
        return Error{Error::Code::InvalidConfig,
                     QStringLiteral("results and errors must go to different files"), 0};
    }
    if (QFileInfo(journalPath()).absoluteFilePath() == QFileInfo(m_options.requestsPath).absoluteFilePath()) {
        return Error{Error::Code::InvalidConfig,
                     QStringLiteral("the journal %1 must not be the input file").arg(journalPath()), 0};
    }
    if (auto opened = openOutputs(); !opened) {
        return opened.error();
    }
    m_results.setSecrets(m_secrets);
    m_errors.setSecrets(m_secrets);
    const qint64 fileLines = countLines(m_options.requestsPath);
    m_reader->reserveIds(fileLines); // every line's id is checked, whatever the shard
    m_estimatedLines = m_options.shardLines(fileLines);
    m_fileSource = std::make_unique<FileSource>(*m_reader, m_options);
    m_fileSink = std::make_unique<FileSink>(*this);
    m_source = m_fileSource.get();
    m_sink = m_fileSink.get();
    return startSending(keys);
}

Result<void> Engine::startSending(const QList<QByteArray> &keys)
{
    m_transport.setEndpoints(m_project.endpoints, keys);
    m_metrics.reset(int(m_project.endpoints.size()), m_clock->nowMs());
    m_source->setWakeHandler([this] { wakeSoon(); });
    if (m_shared) {
        m_shared->start();
    }
    setState(RunState::Running);
    m_tickTimer.start();
    QMetaObject::invokeMethod(this, &Engine::pump, Qt::QueuedConnection);
    return {};
}

void Engine::wakeSoon()
{
    if (m_state == RunState::Running && (!m_wakeTimer.isActive() || m_wakeTimer.remainingTime() > 0)) {
        m_wakeTimer.start(0);
    }
}

Result<void> Engine::openOutputs()
{
    auto identity = Journal::identify(m_options.requestsPath, m_project, m_options.modelOverride);
    if (!identity) {
        return identity.error();
    }
    if (m_options.isSharded()) {
        identity.value().shard = QStringLiteral("%1/%2").arg(m_options.shardIndex).arg(m_options.shardCount);
    }
    const QString journal = journalPath();
    if (m_options.mode == RunOptions::Mode::Fresh) {
        qint64 done = 0;
        if (!m_options.overwrite && Journal::unfinishedRun(journal, &done)) {
            return Error{Error::Code::UnfinishedRun,
                         QStringLiteral("%1 holds an unfinished run (%2 lines done; journal %3)")
                             .arg(m_options.outPath)
                             .arg(done)
                             .arg(journal),
                         0};
        }
        if (auto created =
                m_journal.create(journal, *identity, m_options.runId, m_options.outPath, errorsPath());
            !created) {
            return created.error();
        }
        if (auto opened = m_results.open(m_options.outPath); !opened) {
            return opened.error();
        }
        return m_errors.open(errorsPath());
    }

    auto state = Journal::recover(journal, m_options.outPath, errorsPath());
    if (!state) {
        return state.error();
    }
    if (const QString why = Journal::mismatch(state->header, *identity); !why.isEmpty()) {
        return Error{Error::Code::InvalidConfig, QStringLiteral("cannot resume: ") + why, 0};
    }
    if (!state->runId.isEmpty()) {
        m_options.runId = state->runId;
    }
    if (auto opened = m_journal.openAppend(journal); !opened) {
        return opened.error();
    }
    for (const qint64 line : state->recoveredLines) {
        m_journal.markDone(line, true);
    }
    m_journal.setTotals(state->ok, state->failed);
    if (auto saved = m_journal.checkpoint(
            state->resultsBytes, state->errorsBytes,
            {{"resumed", QDateTime::currentDateTimeUtc().toString(Qt::ISODate).toStdString()},
             {"recovered", state->recovered},
             {"torn_lines", state->tornLines}});
        !saved) {
        return saved.error();
    }
    m_done = std::move(state->done);
    m_resumedOk = state->ok;
    m_resumedFailed = state->failed;

    if (m_options.mode == RunOptions::Mode::RetryErrors && QFileInfo::exists(errorsPath())) {
        qint64 keptBytes = 0;
        qint64 keptRecords = 0;
        auto retry = Journal::prepareRetry(errorsPath(), &keptBytes, &keptRecords);
        if (!retry) {
            return retry.error();
        }
        for (const auto &[first, last] : retry->ranges()) {
            for (qint64 line = first; line <= last; ++line) {
                m_done.erase(line);
            }
        }
        m_journal.setTotals(state->ok, keptRecords);
        m_resumedFailed = keptRecords;
        // Journal first, then replace: a crash in between is finished by the next recover().
        if (auto saved =
                m_journal.checkpoint(state->resultsBytes, keptBytes,
                                     {{"reopen", Journal::rangesOf(*retry)}, {"errors_rewrite", true}});
            !saved) {
            return saved.error();
        }
        if (auto replaced = Journal::finishRewrite(errorsPath()); !replaced) {
            return replaced.error();
        }
    }
    if (auto opened = m_results.open(m_options.outPath, true); !opened) {
        return opened.error();
    }
    return m_errors.open(errorsPath(), true);
}

void Engine::recordWritten(qint64 line, bool ok)
{
    m_journal.markDone(line, ok);
    if (!m_flushSoon.isActive()) {
        m_flushSoon.start();
    }
}

void Engine::flushOutputs()
{
    for (JsonlWriter *w : {&m_results, &m_errors}) {
        if (auto flushed = w->flush(); !flushed) {
            qCCritical(lcEngine).noquote() << flushed.error().message;
        }
    }
}

Result<void> Engine::checkpoint(bool finished)
{
    if (!m_journal.isOpen() || (!m_journal.hasPending() && !finished)) {
        return {};
    }
    // The records reach the disk before the journal says they exist.
    for (JsonlWriter *w : {&m_results, &m_errors}) {
        if (auto synced = w->sync(); !synced) {
            return synced;
        }
    }
    nlohmann::json extra = nlohmann::json::object();
    if (finished) {
        extra["finished"] = true;
    }
    return m_journal.checkpoint(m_results.fileBytes(), m_errors.fileBytes(), extra);
}

void Engine::pause()
{
    if (m_state == RunState::Running) {
        m_wakeTimer.stop();
        setState(RunState::Paused);
    }
}

void Engine::resume()
{
    if (m_state == RunState::Paused) {
        setState(RunState::Running);
        pump();
    }
}

void Engine::stop()
{
    if (m_state == RunState::Running || m_state == RunState::Paused) {
        m_wakeTimer.stop();
        setState(RunState::Stopping);
        maybeFinish();
    }
}

void Engine::abort()
{
    if (m_state == RunState::Finished || m_state == RunState::Idle) {
        return;
    }
    stop();
    m_transport.abortAll();
    maybeFinish();
}

void Engine::setEndpointWeight(int endpoint, double weight)
{
    m_project.endpoints[endpoint].weight = std::max(0.0, weight);
    m_balancer.setWeight(endpoint, weight);
    pump();
}

void Engine::setEndpointRpm(int endpoint, double rpm)
{
    EndpointConfig &e = m_project.endpoints[endpoint];
    e.rpm = std::max(0.0, rpm);
    configureEndpointLimits(endpoint);
    pump();
}

void Engine::setEndpointTpm(int endpoint, double tpm)
{
    EndpointConfig &e = m_project.endpoints[endpoint];
    e.tpm = std::max(0.0, tpm);
    configureEndpointLimits(endpoint);
    pump();
}

void Engine::configureEndpointLimits(int endpoint)
{
    const EndpointConfig &e = m_project.endpoints.at(endpoint);
    if (m_shared) {
        // The shared budgets pace these sends (evenly spaced slots across all processes); a local
        // copy of the same rate would only drop slots to its own jitter. The local limiter keeps
        // what is per process: headers, cooldowns, probes, quota, ejection.
        m_shared->configure(endpoint, e.rpm, e.tpm);
        const bool shared = m_shared->isShared(endpoint);
        m_limiter.configureEndpoint(endpoint, shared ? 0 : e.rpm, shared ? 0 : e.tpm);
        // A 429 pauses every process (shared cooldown) instead of cutting this one's rate.
        m_limiter.endpoint(endpoint).setDiscovery(!shared);
        return;
    }
    m_limiter.configureEndpoint(endpoint, e.rpm, e.tpm);
}

void Engine::setGlobalTpm(double tpm)
{
    m_project.limits.tpm = std::max(0.0, tpm);
    m_limiter.setGlobalTpm(m_project.limits.tpm);
    pump();
}

void Engine::setEndpointMaxInFlight(int endpoint, int maxInFlight)
{
    m_project.endpoints[endpoint].maxInFlight = std::max(1, maxInFlight);
    m_transport.setMaxInFlight(endpoint, maxInFlight);
    pump();
}

void Engine::setGlobalRps(double rps)
{
    m_project.limits.rps = std::max(0.0, rps);
    m_limiter.setGlobalRate(rps);
    pump();
}

void Engine::setState(RunState state)
{
    if (m_state != state) {
        m_state = state;
        Q_EMIT stateChanged(state);
    }
}

bool Engine::refill()
{
    const double now = m_clock->nowMs();
    int handled = 0;
    m_sourceDry = false;
    while (!m_inputDone && !m_sourceDry && m_fresh.size() < m_lookahead && handled < MaxLinesPerRefill) {
        RequestSource::Item item = m_source->next();
        ++handled;
        switch (item.kind) {
        case RequestSource::Item::Kind::Request: {
            ++m_linesRead;
            if (m_done.contains(item.request.line)) {
                ++m_skippedDone;
                break;
            }
            Pending p;
            p.request = std::move(item.request);
            p.heldEpoch = m_blockEpoch;
            m_fresh.push_back(std::move(p));
            break;
        }
        case RequestSource::Item::Kind::Invalid:
            ++m_linesRead;
            if (m_done.contains(item.error.line)) {
                ++m_skippedDone;
                break;
            }
            m_sink->rejected(item.error);
            m_metrics.recordInvalidLine(item.error.cls, now);
            break;
        case RequestSource::Item::Kind::End:
            m_inputDone = true;
            break;
        case RequestSource::Item::Kind::None:
            m_sourceDry = true;
            break;
        }
    }
    // True when the cap, not the lookahead or the end, stopped us: come back soon.
    return handled >= MaxLinesPerRefill && !m_inputDone && !m_sourceDry && m_fresh.size() < m_lookahead;
}

void Engine::pump()
{
    if (m_state != RunState::Running) {
        return;
    }
    double now = m_clock->nowMs();
    while (!m_retryWaiting.empty() && m_retryWaiting.begin()->first <= now) {
        m_retryReady.push_back(std::move(m_retryWaiting.begin()->second));
        m_retryWaiting.erase(m_retryWaiting.begin());
    }
    bool moreInput = refill();
    if (quotaEndedTheRun()) {
        failEverything(ErrorClass::Quota,
                       QStringLiteral("quota: every endpoint is out of quota or disabled"));
        return;
    }
    if (unreachableEndedTheRun(now)) {
        failEverything(ErrorClass::Transport,
                       QStringLiteral("every endpoint has been unreachable for %1 s (last error: %2); "
                                      "not sent")
                           .arg(m_options.unreachableGiveUpMs / 1000.0)
                           .arg(m_lastFailure));
        return;
    }

    bool blocked = false;
    bool retriesHeld = false; // retries wait for retry credit; fresh requests may go meanwhile
    while ((!m_retryReady.empty() && !retriesHeld) || !m_fresh.empty()) {
        std::deque<Pending> &queue = m_retryReady.empty() || retriesHeld ? m_fresh : m_retryReady;
        Pending &head = queue.front();
        if (!m_source->isWanted(head.request)) {
            // Nobody waits for it any more (a gateway caller left or ran out of time): never sent.
            const Pending dropped = std::move(head);
            queue.pop_front();
            writeFailure(dropped, ErrorClass::Cancelled,
                         QStringLiteral("dropped before sending: no longer wanted"), 0);
            continue;
        }
        const double tokens = reservation(head);
        const bool budgetedRetry = drawsOnRetryBudget(head);
        if (!m_limiter.globalHasRoom(tokens)) {
            blocked = true;
            break;
        }
        const int endpoint = m_balancer.pick([&](int i) {
            if (m_limiter.check(i, tokens) != RateLimiter::Block::None ||
                (m_shared && !m_shared->mayAcquire(i, tokens)) ||
                (budgetedRetry && !m_retryBudgets[std::size_t(i)].canRetry())) {
                return Availability::Unavailable;
            }
            return m_transport.hasCapacity(i) ? Availability::Ready : Availability::Busy;
        });
        if (endpoint < 0) {
            if (budgetedRetry && !anyRetryCredit()) {
                // Every endpoint has spent its retry budget (retries are capped at a share of each
                // endpoint's traffic, so failing endpoints are not hammered): the retries wait for
                // credit, which first attempts and time earn back, and fresh requests go first.
                retriesHeld = true;
                continue;
            }
            blocked = true;
            break;
        }
        Pending p = std::move(head);
        queue.pop_front();
        if (p.heldEpoch < m_blockEpoch) {
            m_metrics.recordOverflow(now);
        }
        if (budgetedRetry) {
            m_retryBudgets[std::size_t(endpoint)].onRetry();
        } else if (p.attempts == 0) {
            m_retryBudgets[std::size_t(endpoint)].onFirstAttempt();
        }
        dispatch(endpoint, std::move(p), now);
        if ((m_fresh.empty() || m_fresh.size() < m_lookahead / 2) && !m_inputDone) {
            moreInput = refill() || moreInput;
        }
    }
    if (blocked) {
        ++m_blockEpoch;
        // Fresh requests that cannot go now return to a source that keeps its own order (the gateway's
        // priorities), so requests arriving meanwhile are not stuck behind them.
        while (!m_fresh.empty() && m_fresh.back().attempts == 0 &&
               m_source->giveBack(m_fresh.back().request)) {
            m_fresh.pop_back();
            --m_linesRead;
        }
    }
    maybeFinish();
    if (m_state == RunState::Running) {
        if (moreInput) {
            m_wakeTimer.start(0);
        } else {
            scheduleWake(now);
        }
    }
}

double Engine::reservation(Pending &pending)
{
    if (pending.tokens < 0) {
        pending.tokens = m_estimator.reserve(pending.request.input);
    }
    return pending.tokens;
}

bool Engine::drawsOnRetryBudget(const Pending &pending)
{
    // Retries after errors draw on the retry budget. 429s are the limiter's business, and a quota
    // refusal is the endpoint's, not the request's.
    return pending.attempts > 0 && pending.lastClass != ErrorClass::RateLimited &&
           pending.lastClass != ErrorClass::Quota;
}

bool Engine::anyRetryCredit() const
{
    for (int i = 0; i < int(m_project.endpoints.size()); ++i) {
        if (m_project.endpoints.at(i).weight > 0 && !m_limiter.endpoint(i).isOutOfQuota() &&
            m_retryBudgets[std::size_t(i)].canRetry()) {
            return true;
        }
    }
    return false;
}

bool Engine::quotaEndedTheRun() const
{
    // Only quota ends a run: endpoints the operator disabled (weight 0) can be enabled again, so with
    // all of them off the run just waits.
    bool anyQuota = false;
    for (int i = 0; i < int(m_project.endpoints.size()); ++i) {
        anyQuota = anyQuota || m_limiter.endpoint(i).isOutOfQuota();
    }
    return anyQuota && !anyEndpointUsable();
}

bool Engine::anyEndpointUsable() const
{
    for (int i = 0; i < int(m_project.endpoints.size()); ++i) {
        if (m_project.endpoints.at(i).weight > 0 && !m_limiter.endpoint(i).isOutOfQuota()) {
            return true;
        }
    }
    return false;
}

bool Engine::unreachableEndedTheRun(double nowMs)
{
    bool all = false;
    for (int i = 0; i < int(m_project.endpoints.size()); ++i) {
        const EndpointLimiter &limiter = m_limiter.endpoint(i);
        if (m_project.endpoints.at(i).weight <= 0 || limiter.isOutOfQuota()) {
            continue;
        }
        if (!limiter.isEjected()) {
            m_unreachableSinceMs = -1;
            return false;
        }
        all = true;
    }
    if (!all) {
        m_unreachableSinceMs = -1;
        return false;
    }
    if (m_unreachableSinceMs < 0) {
        m_unreachableSinceMs = nowMs;
        Q_EMIT notice(QStringLiteral("every endpoint is unreachable; requests wait (at most %1 s)")
                          .arg(m_options.unreachableGiveUpMs / 1000.0));
    }
    return nowMs - m_unreachableSinceMs >= m_options.unreachableGiveUpMs;
}

void Engine::failEverything(ErrorClass cls, const QString &message)
{
    // Nothing can be sent any more: every request still waiting ends as an error, and so does the
    // rest of the input (in chunks, so the event loop keeps turning). Requests in flight still finish.
    for (auto &[due, p] : m_retryWaiting) {
        m_retryReady.push_back(std::move(p));
    }
    m_retryWaiting.clear();
    for (std::deque<Pending> *queue : {&m_retryReady, &m_fresh}) {
        for (const Pending &p : *queue) {
            writeFailure(p, cls, message, 0);
        }
        queue->clear();
    }
    const bool more = refill();
    for (const Pending &p : m_fresh) {
        writeFailure(p, cls, message, 0);
    }
    m_fresh.clear();
    if (more || (!m_inputDone && !m_sourceDry)) {
        m_wakeTimer.start(0);
    }
    maybeFinish();
}

void Engine::dispatch(int endpoint, Pending &&pending, double nowMs)
{
    const EndpointConfig &e = m_project.endpoints.at(endpoint);
    const QByteArray body = ProviderAdapter::requestBody(pending.request, e, m_options.modelOverride);
    pending.ticket = m_limiter.acquire(endpoint, reservation(pending));
    pending.bodyKey = qHash(body, 1) | 1; // never 0 ("unknown")
    if (m_shared) {
        m_shared->onSend(endpoint, pending.ticket.tokens);
    }
    // A gateway caller's own key goes only to endpoints configured to take it; its extra headers only
    // to endpoints of their dialect.
    QList<QPair<QByteArray, QByteArray>> headers;
    for (const auto &header : std::as_const(pending.request.forwardHeaders)) {
        const QByteArray name = header.first.toLower();
        const bool anthropicOnly = name.startsWith("anthropic-");
        const bool openAiOnly = name.startsWith("openai-");
        if ((!anthropicOnly || e.provider == Provider::Anthropic) &&
            (!openAiOnly || e.provider == Provider::OpenAI)) {
            headers.append(header);
        }
    }
    const quint64 ticket = m_transport.send(
        endpoint, body, e.forwardCallerKey ? pending.request.callerKey : QByteArray(), headers);
    ++pending.attempts;
    pending.lastEndpoint = endpoint;
    m_metrics.recordIssued(endpoint, nowMs, pending.attempts > 1);
    m_inFlight.emplace(ticket, std::move(pending));
}

void Engine::handleResult(AttemptResult &&result)
{
    const auto node = m_inFlight.find(result.ticket);
    if (node == m_inFlight.end()) {
        return;
    }
    Pending p = std::move(node->second);
    m_inFlight.erase(node);

    const double now = m_clock->nowMs();
    const int endpoint = result.endpoint;
    const Outcome outcome = Classifier::classify(result.report);
    Usage usage;
    if (outcome.isSuccess()) {
        usage = result.usage;
        if (usage.outputTokens > 0) {
            m_estimator.observeOutput(double(usage.outputTokens));
        }
    }
    EndpointLimiter::Feedback feedback;
    feedback.cls = outcome.cls;
    feedback.info = result.rateLimit;
    feedback.ticket = p.ticket;
    feedback.answered = result.report.httpStatus > 0;
    feedback.requestKey = p.bodyKey;
    feedback.usedTokens =
        usage.inputTokens + usage.outputTokens > 0 ? double(usage.inputTokens + usage.outputTokens) : -1;
    m_limiter.onReply(endpoint, feedback);
    if (m_shared) {
        m_shared->onSettle(endpoint, feedback.ticket.tokens, feedback.chargedTokens());
        if (outcome.cls == ErrorClass::RateLimited) {
            m_shared->onRateLimited(endpoint, result.rateLimit.retryAfterMs >= 0
                                                  ? result.rateLimit.retryAfterMs
                                                  : EndpointLimiter::FirstPauseMs);
        }
    }
    m_metrics.recordAttempt(endpoint, outcome.cls, result.latencyMs, usage.inputTokens, usage.outputTokens,
                            now);
    p.tokens = -1; // estimate again for the next attempt (the output estimate learns)

    if (outcome.isSuccess()) {
        Completion c{endpointName(endpoint), p.attempts, result.report.httpStatus, result.latencyMs,
                     result.requestId};
        m_sink->succeeded(p.request, result.bodyText, c);
        m_metrics.recordFinal(ErrorClass::None, now);
    } else {
        p.lastClass = outcome.cls;
        p.lastMessage = outcome.message;
        m_lastFailure = outcome.message;
        p.lastStatus = result.report.httpStatus;
        p.lastRequestId = result.requestId;
        p.lastRetryAfterMs = result.rateLimit.retryAfterMs;
        if (outcome.cls == ErrorClass::Quota && !m_quotaNoticed[std::size_t(endpoint)]) {
            m_quotaNoticed[std::size_t(endpoint)] = true;
            Q_EMIT notice(QStringLiteral("endpoint \"%1\" is out of quota (%2); no more requests go to it")
                              .arg(endpointName(endpoint), redacted(outcome.message)));
        }
        // A quota error is the endpoint's, not the request's: another endpoint may still serve it.
        const Outcome judged = outcome.cls == ErrorClass::Quota && anyEndpointUsable()
                                   ? Outcome{outcome.cls, true, outcome.message}
                                   : outcome;
        const RetryPlan plan = m_retry.decide(judged, p.attempts, result.rateLimit.retryAfterMs);
        if (plan.decision == RetryDecision::Yes && m_state != RunState::Stopping) {
            if (outcome.cls == ErrorClass::RateLimited || outcome.cls == ErrorClass::Quota) {
                // No backoff of its own: the endpoint's limiter holds it back (cooldown, probe), and
                // rate-limited requests are released first when it recovers, or go elsewhere.
                m_retryReady.push_back(std::move(p));
            } else {
                m_retryWaiting.emplace(now + plan.delayMs, std::move(p));
            }
        } else {
            QString message = outcome.message;
            if (plan.decision == RetryDecision::NoAttemptsExceeded) {
                message += QStringLiteral(" (gave up after %1 attempts)").arg(p.attempts);
            } else if (plan.decision == RetryDecision::Yes) {
                message += QStringLiteral(" (run stopped before a retry)");
            }
            writeFailure(p, outcome.cls, message, result.latencyMs, result.body);
        }
    }
}

void Engine::writeFailure(const Pending &p, ErrorClass cls, const QString &message, double latencyMs,
                          const nlohmann::json &body)
{
    Completion c{endpointName(p.lastEndpoint),
                 p.attempts,
                 p.lastStatus,
                 latencyMs,
                 p.lastRequestId,
                 p.lastRetryAfterMs};
    m_sink->failed(p.request, cls, redacted(message), c, body);
    m_metrics.recordFinal(cls, m_clock->nowMs());
}

void Engine::scheduleWake(double nowMs)
{
    double wakeAt = std::numeric_limits<double>::infinity();
    if (!m_retryWaiting.empty()) {
        wakeAt = m_retryWaiting.begin()->first;
    }
    const std::deque<Pending> &queue = m_retryReady.empty() ? m_fresh : m_retryReady;
    // A source that took its requests back (giveBack) still has work waiting.
    if (!queue.empty() || (m_source && m_source->backlog() > 0)) {
        const double tokens = queue.empty() || queue.front().tokens < 0 ? 0 : queue.front().tokens;
        const bool budgetedRetry = !queue.empty() && drawsOnRetryBudget(queue.front());
        bool anyReadyNow = false;
        for (int i = 0; i < m_balancer.count(); ++i) {
            if (m_balancer.weight(i) <= 0 || !m_transport.hasCapacity(i)) {
                continue; // a reply (not a timer) will wake us for these
            }
            double at = m_limiter.endpointReadyAtMs(i, tokens);
            if (m_shared) {
                at = std::max(at, m_shared->readyAtMs(i, tokens));
            }
            if (budgetedRetry) {
                at = std::max(at, nowMs + m_retryBudgets[std::size_t(i)].msUntilRetry());
            }
            anyReadyNow = anyReadyNow || at <= nowMs;
            wakeAt = std::min(wakeAt, at);
        }
        if (anyReadyNow) {
            wakeAt = std::min(wakeAt, m_limiter.globalReadyAtMs(tokens));
        }
        // State changes (ramp, growth) are time-driven too: never sleep long with work waiting.
        wakeAt = std::min(wakeAt, nowMs + 1000.0);
    }
    if (!std::isfinite(wakeAt)) {
        return;
    }
    const int intervalMs = int(std::clamp(std::ceil(wakeAt - nowMs), 0.0, 3600000.0));
    if (!m_wakeTimer.isActive() || m_wakeTimer.remainingTime() > intervalMs) {
        m_wakeTimer.start(intervalMs);
    }
}

void Engine::maybeFinish()
{
    if (m_finishing || m_state == RunState::Idle || m_state == RunState::Finished || !m_inFlight.empty()) {
        return;
    }
    if (m_state == RunState::Stopping) {
        // Requests that failed and were waiting to retry end with their last error.
        for (auto &[due, p] : m_retryWaiting) {
            writeFailure(p, p.lastClass, p.lastMessage + QStringLiteral(" (run stopped before a retry)"), 0);
        }
        m_retryWaiting.clear();
        for (const Pending &p : m_retryReady) {
            writeFailure(p, p.lastClass, p.lastMessage + QStringLiteral(" (run stopped before a retry)"), 0);
        }
        m_retryReady.clear();
        finish();
        return;
    }
    if (m_inputDone && m_fresh.empty() && m_retryReady.empty() && m_retryWaiting.empty()) {
        finish();
    }
}

void Engine::finish()
{
    m_finishing = true;
    if (m_shared) {
        m_shared->stop();
    }
    m_wakeTimer.stop();
    m_tickTimer.stop();
    m_flushSoon.stop();
    qint64 unsent = qint64(m_fresh.size());
    if (m_serving) {
        // No files: the source answers whoever still waits (the gateway does when it stops).
        unsent += m_source->backlog();
    } else {
        const qint64 doneAhead = m_done.size() - m_skippedDone; // finished earlier, not read again yet
        unsent += m_inputDone
                      ? 0
                      : std::max<qint64>(1, m_estimatedLines - m_options.shardLines(m_reader->lineNumber()) -
                                                doneAhead);
        // Every line has its record only when the input was read to the end and nothing was left unsent.
        if (auto saved = checkpoint(unsent == 0); !saved) {
            qCCritical(lcEngine).noquote() << saved.error().message;
        }
        m_journal.close();
        for (JsonlWriter *w : {&m_results, &m_errors}) {
            if (auto closed = w->close(); !closed) {
                qCCritical(lcEngine).noquote() << closed.error().message;
            }
        }
    }
    m_fresh.clear();
    setState(RunState::Finished);
    MetricsSnapshot summary = snapshot();
    summary.notStarted = unsent;
    // The run is over: its last, partial second belongs in the final picture too.
    const std::vector<SecondSample> &history = m_metrics.history();
    summary.recent.clear();
    for (std::size_t i = history.size() > 60 ? history.size() - 60 : 0; i < history.size(); ++i) {
        summary.recent.append(history[i]);
    }
    Q_EMIT snapshotReady(summary);
    Q_EMIT finished(summary);
}

void Engine::tick()
{
    if (!m_serving) {
        flushOutputs();
        if (auto saved = checkpoint(); !saved) {
            qCCritical(lcEngine).noquote() << saved.error().message;
        }
    }
    Q_EMIT snapshotReady(snapshot());
}

MetricsSnapshot Engine::snapshot() const
{
    MetricsSnapshot s;
    const double now = m_clock->nowMs();
    m_metrics.fill(s, now);
    s.state = m_state;
    s.linesRead = m_linesRead;
    s.resumedSucceeded = m_resumedOk;
    s.resumedFailed = m_resumedFailed;
    s.estimatedLines = m_estimatedLines;
    if (m_reader) {
        s.bytesRead = m_reader->bytesRead();
        s.fileSize = m_reader->fileSize();
    }
    s.inFlight = qint64(m_inFlight.size());
    s.queued = qint64(m_fresh.size() + m_retryReady.size()) + (m_source ? m_source->backlog() : 0);
    s.waitingRetry = qint64(m_retryWaiting.size());
    for (int i = 0; i < int(m_project.endpoints.size()) && i < s.endpoints.size(); ++i) {
        EndpointStats &e = s.endpoints[i];
        e.name = m_project.endpoints.at(i).name;
        e.weight = m_project.endpoints.at(i).weight;
        e.inFlight = m_transport.inFlight(i);
        EndpointLimiter &limiter = m_limiter.endpoint(i);
        e.state = e.weight > 0 ? limiter.publicState() : EndpointState::Disabled;
        e.ejectedAfter = limiter.ejectedAfter();
        e.limitRps = limiter.effectiveRps();
        e.limitTps = limiter.effectiveTps();
        e.limitReason = e.weight > 0 ? limiter.limitReason() : LimitReason::Disabled;
        const bool paused = limiter.state() == EndpointLimiter::State::CoolingDown;
        const double global = m_limiter.globalRate();
        if (global > 0 && (e.limitRps <= 0 || global < e.limitRps) && !paused) {
            e.limitRps = global;
            e.limitReason = LimitReason::GlobalRps;
        }
        if (m_shared && m_shared->isShared(i) && e.weight > 0) {
            const double cooldown = m_shared->cooldownMs(i);
            if (cooldown > 0 && !paused) {
                e.state = EndpointState::SharedCooldown;
                e.limitRps = 0;
                e.limitReason = LimitReason::SharedCooldown;
            } else if (!paused && limiter.state() == EndpointLimiter::State::Open) {
                const double rps = m_project.endpoints.at(i).rpm / 60.0;
                if (rps > 0 && (e.limitRps <= 0 || rps < e.limitRps)) {
                    e.limitRps = rps;
                    e.limitReason = LimitReason::SharedRpm;
                }
                const double tps = m_project.endpoints.at(i).tpm / 60.0;
                if (tps > 0 && (e.limitTps <= 0 || tps < e.limitTps)) {
                    e.limitTps = tps;
                }
            }
        }
    }
    if (m_shared) {
        s.shared = m_shared->stats();
    }
    return s;
}

} // namespace Sluice

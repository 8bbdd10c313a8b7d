#include "runfiles.h"

#include "io/records.h"

#include <QDateTime>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QLoggingCategory>
#include <QRandomGenerator>

#include <algorithm>
#include <cmath>

namespace Sluice {

Q_LOGGING_CATEGORY(lcRunFiles, "sluice.io")

namespace {

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

QString absolute(const QString &path)
{
    return QFileInfo(path).absoluteFilePath();
}

} // namespace

QString FileRunOptions::resolvedErrorsPath() const
{
    if (!errorsPath.isEmpty()) {
        return errorsPath;
    }
    return QFileInfo(outPath).dir().filePath(QStringLiteral("errors.jsonl"));
}

RunFiles::Existing RunFiles::inspect(const QString &outPath)
{
    Existing existing;
    existing.journalPath = journalPathFor(outPath);
    existing.unfinished = Journal::unfinishedRun(existing.journalPath, &existing.linesDone);
    return existing;
}

RunFiles::RunFiles(FileRunOptions options, const Clock *clock, QObject *timerContext, int checkpointMs)
    : m_options(std::move(options))
    , m_checkpointMs(std::max(1, checkpointMs))
    , m_flushSoon(clock, timerContext, [this] { flush(); })
    , m_checkpoint(clock, timerContext, [this] { checkpointNow(); })
{
    if (m_options.runId.isEmpty()) {
        m_options.runId =
            QStringLiteral("run_%1").arg(QRandomGenerator::global()->generate(), 8, 16, QLatin1Char('0'));
    }
}

RunFiles::~RunFiles() = default;

Result<void> RunFiles::checkPaths() const
{
    const QString input = absolute(m_options.requestsPath);
    if (absolute(m_options.outPath) == input || absolute(errorsPath()) == input) {
        return Error{Error::Code::InvalidConfig,
                     QStringLiteral("the output files must not be the input file"), 0};
    }
    if (absolute(m_options.outPath) == absolute(errorsPath())) {
        return Error{Error::Code::InvalidConfig,
                     QStringLiteral("results and errors must go to different files"), 0};
    }
    if (absolute(journalPath()) == input) {
        return Error{Error::Code::InvalidConfig,
                     QStringLiteral("the journal %1 must not be the input file").arg(journalPath()), 0};
    }
    return {};
}

Result<void> RunFiles::open(const ProjectConfig &project, const Secrets &secrets)
{
    m_reader = std::make_unique<JsonlReader>(m_options.requestsPath, m_options.reader);
    if (auto opened = m_reader->open(); !opened) {
        return opened.error();
    }
    if (auto paths = checkPaths(); !paths) {
        return paths;
    }
    auto identity = Journal::identify(m_options.requestsPath, project, m_options.modelOverride);
    if (!identity) {
        return identity.error();
    }
    if (m_options.isSharded()) {
        identity.value().shard = QStringLiteral("%1/%2").arg(m_options.shardIndex).arg(m_options.shardCount);
    }
    if (auto opened =
            m_options.mode == FileRunOptions::Mode::Fresh ? openFresh(*identity) : openResumed(*identity);
        !opened) {
        return opened;
    }
    m_results.setSecrets(secrets);
    m_errors.setSecrets(secrets);
    const qint64 fileLines = countLines(m_options.requestsPath);
    m_reader->reserveIds(fileLines); // every line's id is checked, whatever the shard
    m_estimatedLines = m_options.shardLines(fileLines);
    m_checkpoint.start(m_checkpointMs);
    return {};
}

Result<void> RunFiles::openFresh(const Journal::Identity &identity)
{
    const Existing existing = inspect(m_options.outPath);
    if (existing.unfinished && !m_options.overwrite) {
        return Error{Error::Code::UnfinishedRun,
                     QStringLiteral("%1 holds an unfinished run (%2 lines done; journal %3)")
                         .arg(m_options.outPath)
                         .arg(existing.linesDone)
                         .arg(existing.journalPath),
                     0};
    }
    if (auto created =
            m_journal.create(journalPath(), identity, m_options.runId, m_options.outPath, errorsPath());
        !created) {
        return created.error();
    }
    if (auto opened = m_results.open(m_options.outPath); !opened) {
        return opened.error();
    }
    return m_errors.open(errorsPath());
}

Result<void> RunFiles::openResumed(const Journal::Identity &identity)
{
    auto state = Journal::recover(journalPath(), m_options.outPath, errorsPath());
    if (!state) {
        return state.error();
    }
    if (const QString why = Journal::mismatch(state->header, identity); !why.isEmpty()) {
        return Error{Error::Code::InvalidConfig, QStringLiteral("cannot resume: ") + why, 0};
    }
    if (!state->runId.isEmpty()) {
        m_options.runId = state->runId;
    }
    if (auto opened = m_journal.openAppend(journalPath()); !opened) {
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
    if (state->spent.is_object()) {
        m_earlierSpend.runUsd = std::max(0.0, state->spent.value("run", 0.0));
        if (const auto endpoints = state->spent.find("endpoints");
            endpoints != state->spent.end() && endpoints->is_object()) {
            for (const auto &[name, usd] : endpoints->items()) {
                if (usd.is_number()) {
                    m_earlierSpend.endpointUsd.insert(QString::fromStdString(name), usd.get<double>());
                }
            }
        }
        m_journaledSpend = m_earlierSpend;
    }
    m_resumedOk = state->ok;
    m_resumedFailed = state->failed;
    if (m_options.mode == FileRunOptions::Mode::RetryErrors && QFileInfo::exists(errorsPath())) {
        if (auto reopened = reopenFailures(*state); !reopened) {
            return reopened;
        }
    }
    if (auto opened = m_results.open(m_options.outPath, true); !opened) {
        return opened.error();
    }
    return m_errors.open(errorsPath(), true);
}

Result<void> RunFiles::reopenFailures(const Journal::State &state)
{
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
    m_journal.setTotals(state.ok, keptRecords);
    m_resumedFailed = keptRecords;
    // Journal first, then replace: a crash in between is finished by the next recover().
    if (auto saved = m_journal.checkpoint(state.resultsBytes, keptBytes,
                                          {{"reopen", Journal::rangesOf(*retry)}, {"errors_rewrite", true}});
        !saved) {
        return saved.error();
    }
    return Journal::finishRewrite(errorsPath());
}

RequestSource::Item RunFiles::next()
{
    for (;;) {
        JsonlReader::Item item = m_reader->next();
        Item out;
        switch (item.kind) {
        case JsonlReader::Item::Kind::End:
            m_inputDone = true;
            if (!m_reader->readError().isEmpty()) {
                qCWarning(lcRunFiles).noquote() << m_reader->readError();
            }
            out.kind = Item::Kind::End;
            return out;
        case JsonlReader::Item::Kind::Request:
        case JsonlReader::Item::Kind::Invalid:
            break;
        }
        const bool request = item.kind == JsonlReader::Item::Kind::Request;
        const qint64 line = request ? item.request.line : item.error.line;
        // `--shard K/N`: lines of the other processes are not this run's (no record here).
        if (!m_options.inShard(line)) {
            continue;
        }
        ++m_linesRead;
        if (m_done.contains(line)) {
            ++m_skippedDone; // finished by an earlier session of this run
            continue;
        }
        if (request) {
            out.kind = Item::Kind::Request;
            out.request = std::move(item.request);
        } else {
            out.kind = Item::Kind::Invalid;
            out.error = std::move(item.error);
        }
        return out;
    }
}

qint64 RunFiles::notHandedOut() const
{
    if (m_inputDone || !m_reader) {
        return 0;
    }
    // Counted, not estimated: the budget stop's "N lines not sent" must add up with the records.
    qint64 left = 0;
    const bool read = m_reader->forEachLineLeft([this, &left](qint64 line) {
        if (m_options.inShard(line) && !m_done.contains(line)) {
            ++left;
        }
    });
    if (!read) {
        // The rest of the file cannot be read again: say at least one, so the run is not called complete.
        const qint64 doneAhead = m_done.size() - m_skippedDone;
        return std::max<qint64>(1,
                                m_estimatedLines - m_options.shardLines(m_reader->lineNumber()) - doneAhead);
    }
    return left;
}

RequestSource::Progress RunFiles::progress() const
{
    Progress p;
    p.linesRead = m_linesRead;
    p.estimatedLines = m_estimatedLines;
    p.resumedSucceeded = m_resumedOk;
    p.resumedFailed = m_resumedFailed;
    if (m_reader) {
        p.bytesRead = m_reader->bytesRead();
        p.fileSize = m_reader->fileSize();
    }
    return p;
}

void RunFiles::succeeded(const Request &request, const QByteArray &bodyText, const Completion &completion)
{
    // The reply's own text goes into the record: parsed once (for usage and validity, on the
    // transport's thread), never serialized again.
    m_results.writeLine(Records::resultLine(m_options.runId, request, bodyText, completion));
    recordWritten(request.line, true);
}

void RunFiles::failed(const Request &request, ErrorClass cls, const QString &message,
                      const Completion &completion, const nlohmann::json &)
{
    m_errors.write(Records::error(request, cls, message, completion));
    recordWritten(request.line, false);
}

void RunFiles::rejected(const InputError &error)
{
    m_errors.write(Records::inputError(error));
    recordWritten(error.line, false);
}

void RunFiles::recordWritten(qint64 line, bool ok)
{
    m_journal.markDone(line, ok);
    if (!m_flushSoon.isActive()) {
        m_flushSoon.start(0);
    }
}

void RunFiles::flush()
{
    for (JsonlWriter *w : {&m_results, &m_errors}) {
        if (auto flushed = w->flush(); !flushed) {
            qCCritical(lcRunFiles).noquote() << flushed.error().message;
        }
    }
}

void RunFiles::checkpointNow()
{
    flush();
    if (auto saved = checkpoint(); !saved) {
        qCCritical(lcRunFiles).noquote() << saved.error().message;
    }
    m_checkpoint.start(m_checkpointMs);
}

Result<void> RunFiles::checkpoint(bool finished)
{
    Spend spend = m_spendReport ? m_spendReport() : m_journaledSpend;
    const bool spendChanged = !(spend == m_journaledSpend);
    if (!m_journal.isOpen() || (!m_journal.hasPending() && !finished && !spendChanged)) {
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
    if (spendChanged) {
        // Rounded to the nano-dollar: no residue of summing many small costs in the journal.
        const auto nanoUsd = [](double usd) {
            return std::round(usd * 1e9) / 1e9;
        };
        nlohmann::json endpoints = nlohmann::json::object();
        for (auto it = spend.endpointUsd.cbegin(); it != spend.endpointUsd.cend(); ++it) {
            endpoints[it.key().toStdString()] = nanoUsd(it.value());
        }
        extra["spent_usd"] = {{"run", nanoUsd(spend.runUsd)}, {"endpoints", std::move(endpoints)}};
    }
    auto saved = m_journal.checkpoint(m_results.fileBytes(), m_errors.fileBytes(), extra);
    if (saved) {
        m_journaledSpend = std::move(spend);
    }
    return saved;
}

void RunFiles::runEnded(bool complete)
{
    m_flushSoon.stop();
    m_checkpoint.stop();
    // Every line has its record only when the input was read to the end and nothing was left unsent.
    if (auto saved = checkpoint(complete); !saved) {
        qCCritical(lcRunFiles).noquote() << saved.error().message;
    }
    m_journal.close();
    for (JsonlWriter *w : {&m_results, &m_errors}) {
        if (auto closed = w->close(); !closed) {
            qCCritical(lcRunFiles).noquote() << closed.error().message;
        }
    }
}

} // namespace Sluice

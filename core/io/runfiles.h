#pragma once

#include "config/projectconfig.h"
#include "io/journal.h"
#include "io/jsonlreader.h"
#include "io/jsonlwriter.h"
#include "io/lineset.h"
#include "io/outcomesink.h"
#include "io/requestsource.h"
#include "util/clock.h"
#include "util/result.h"
#include "util/secrets.h"

#include <QHash>
#include <QString>

#include <functional>
#include <memory>

class QObject;

namespace Sluice {

/// Where a file run reads and writes (the part of a run's options that is about files).
struct FileRunOptions
{
    /// How a run treats its outputs and their journal (`<out>.journal`).
    enum class Mode {
        Fresh,       ///< replace the outputs; refused (UnfinishedRun) when they hold an unfinished run
        Resume,      ///< continue the run recorded in the journal: finished lines are skipped
        RetryErrors, ///< Resume, and run again the lines whose records in the errors file are request
                     ///< failures; results are appended, the errors file keeps only what still fails
    };

    QString requestsPath;
    QString outPath;       ///< results JSONL
    QString errorsPath;    ///< errors JSONL; empty = "errors.jsonl" beside outPath
    QString modelOverride; ///< fills in requests that name no model (before the endpoint's model)
    JsonlReader::Options reader;
    QString runId; ///< prefix of result ids; generated when empty (a resumed run keeps its own)
    Mode mode = Mode::Fresh;
    bool overwrite = false; ///< Fresh: replace the outputs even when they hold an unfinished run
    /// `--shard K/N`: this process handles only input lines with (line - 1) % shardCount ==
    /// shardIndex - 1 (physical line numbers, 1-based); the others get no record here. Recorded in the
    /// journal, so a resume must name the same shard.
    int shardIndex = 1;
    int shardCount = 1;

    bool isSharded() const { return shardCount > 1; }
    bool inShard(qint64 line) const { return shardCount <= 1 || (line - 1) % shardCount == shardIndex - 1; }
    /// How many of the first `lines` physical lines belong to this shard.
    qint64 shardLines(qint64 lines) const
    {
        return shardCount <= 1 ? lines : (lines >= shardIndex ? (lines - shardIndex) / shardCount + 1 : 0);
    }
    /// errorsPath, or "errors.jsonl" beside the results.
    QString resolvedErrorsPath() const;
};

/// The files of one run: the JSONL reader (a RequestSource), the results and errors writers with the
/// journal (an OutcomeSink), and the protocol around them — fresh / resume / retry-errors, the
/// "unfinished run" decision, checkpoints (records synced to disk before the journal names them),
/// skipping lines an earlier session finished, and `--shard`.
///
/// The CLI and the desktop app ask inspect() what a results path holds; the engine opens and runs it.
/// Engine-thread only. Checkpoints are taken every `checkpointMs` and when the run ends; new records are
/// handed to the kernel at the end of the event-loop pass that wrote them.
class RunFiles final : public RequestSource, public OutcomeSink
{
public:
    /// What a results path holds already.
    struct Existing
    {
        bool unfinished = false; ///< a run that did not reach the end of its input (resumable)
        qint64 linesDone = 0;    ///< lines with a record at its last checkpoint
        QString journalPath;
    };
    static Existing inspect(const QString &outPath);
    static QString journalPathFor(const QString &outPath) { return Journal::pathFor(outPath); }

    /// `timerContext`: the object whose thread runs the checkpoint timers (the engine).
    RunFiles(FileRunOptions options, const Clock *clock, QObject *timerContext, int checkpointMs = 250);
    ~RunFiles() override;

    /// Opens the input and the outputs (recovering the journal when resuming; refusing to replace an
    /// unfinished run unless told to). Nothing is written when it fails. API keys in `secrets` are
    /// redacted from everything written.
    /// The journal records `project`'s identity (a resume must match it).
    Result<void> open(const ProjectConfig &project, const Secrets &secrets);

    /// What a run spent (USD), all its sessions: in all and per endpoint name.
    struct Spend
    {
        double runUsd = 0;
        QHash<QString, double> endpointUsd;
        bool operator==(const Spend &) const = default;
    };
    /// What earlier sessions spent, from the journal of a resumed run (nothing for a fresh one), for
    /// the budgets. A session killed without a last checkpoint loses its last second or so of spend.
    const Spend &earlierSpend() const { return m_earlierSpend; }
    /// Asked at each checkpoint for the run's spend so far (earlier sessions included), journaled
    /// whenever it changed, so that the next resume's budget counts it.
    void setSpendReport(std::function<Spend()> report) { m_spendReport = std::move(report); }

    const QString &runId() const { return m_options.runId; }
    QString errorsPath() const { return m_options.resolvedErrorsPath(); }
    QString journalPath() const { return journalPathFor(m_options.outPath); }

    // RequestSource
    Item next() override;
    qint64 notHandedOut() const override;
    Progress progress() const override;

    // OutcomeSink
    void succeeded(const Request &request, const QByteArray &bodyText, const Completion &completion) override;
    void failed(const Request &request, ErrorClass cls, const QString &message, const Completion &completion,
                const nlohmann::json &body) override;
    void rejected(const InputError &error) override;
    void runEnded(bool complete) override;

private:
    Result<void> checkPaths() const;
    Result<void> openFresh(const Journal::Identity &identity);
    Result<void> openResumed(const Journal::Identity &identity);
    Result<void> reopenFailures(const Journal::State &state);
    void recordWritten(qint64 line, bool ok);
    void flush();
    Result<void> checkpoint(bool finished = false);
    void checkpointNow();

    FileRunOptions m_options;
    std::unique_ptr<JsonlReader> m_reader;
    JsonlWriter m_results;
    JsonlWriter m_errors;
    Journal m_journal;
    LineSet m_done;           ///< lines finished by an earlier session of this run
    qint64 m_skippedDone = 0; ///< of those, read (and skipped) so far
    qint64 m_linesRead = 0;   ///< non-blank lines of this shard read so far (skipped ones included)
    qint64 m_resumedOk = 0;
    qint64 m_resumedFailed = 0;
    qint64 m_estimatedLines = 0;
    bool m_inputDone = false;
    Spend m_earlierSpend;
    Spend m_journaledSpend; ///< the spend the journal holds (the last checkpoint's, or the earlier)
    std::function<Spend()> m_spendReport;
    int m_checkpointMs;
    ClockTimer m_flushSoon;  ///< hands new records to the kernel at the end of this event-loop pass
    ClockTimer m_checkpoint; ///< every m_checkpointMs while the run goes
};

} // namespace Sluice

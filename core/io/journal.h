#pragma once

#include "io/lineset.h"
#include "util/result.h"

#include <QFile>
#include <QString>

#include <nlohmann/json.hpp>

#include <vector>

namespace Sluice {

struct ProjectConfig;

/// The append-only record of a run's progress, kept beside its results (`<results>.journal`), from
/// which a killed or stopped run is resumed.
///
/// Format (JSONL, one object per line):
/// - line 1, the header: `{"sluice_journal":1, "run_id", "created", "input": {"path", "size",
///   "fingerprint"}, "project": {identity}, "results", "errors"}`, and `"shard": "K/N"` when the run
///   handles one shard of the input;
/// - then checkpoints: `{"done": [[first,last],...], "ok": N, "failed": N, "results_bytes": N,
///   "errors_bytes": N}` with optional `"finished": true`, `"recovered": N`, `"reopen": [[first,last],
///   ...]` (lines handed back by --retry-errors), `"errors_rewrite": true` and `"spent_usd": {"run": USD,
///   "endpoints": {name: USD}}` (what the run spent so far, all its sessions; the last one counts).
///
/// A checkpoint is appended only after the results and errors files were synced to disk, so every
/// line it names has its record within the first `results_bytes` / `errors_bytes` of those files.
/// Records written after the last checkpoint are found again by reading the outputs past those
/// offsets; a torn last line (a crash in the middle of a write) is cut off. See recover().
class Journal
{
public:
    static constexpr int FormatVersion = 1;

    /// What a resumed run must still match: the input file and the project's identity.
    struct Identity
    {
        QString inputPath;
        qint64 inputSize = 0;
        QString inputFingerprint;
        nlohmann::json project; ///< projectIdentity()
        QString shard;          ///< "K/N" for `--shard K/N`; empty = the whole input
    };

    /// A run's progress as recovered from its journal and outputs.
    struct State
    {
        nlohmann::json header;
        QString runId;
        LineSet done;      ///< lines with a record in the results or the errors
        qint64 ok = 0;     ///< records in the results
        qint64 failed = 0; ///< records in the errors
        qint64 resultsBytes = 0;
        qint64 errorsBytes = 0;
        bool finished = false;              ///< the run reached the end of its input
        qint64 recovered = 0;               ///< records found past the last checkpoint
        int tornLines = 0;                  ///< torn last lines cut off (journal and outputs)
        std::vector<qint64> recoveredLines; ///< their lines, to be journaled again
        nlohmann::json spent;               ///< the last checkpoint's "spent_usd", null when none had one
    };

    Journal() = default;
    ~Journal();
    Journal(const Journal &) = delete;
    Journal &operator=(const Journal &) = delete;

    /// `<results>.journal`
    static QString pathFor(const QString &resultsPath);
    /// Size and fingerprint of the input: SHA-256 of the whole file up to 64 MiB; above that, of its
    /// size, first and last 16 MiB and 256 evenly spaced 4 KiB blocks ("sha256-sampled:").
    static Result<Identity> identify(const QString &inputPath, const ProjectConfig &project,
                                     const QString &modelOverride);
    /// What makes requests what they are: endpoint names, providers, models and request-shaping
    /// defaults, and the model override. Weights, limits, concurrency, timeouts, retries and URLs are
    /// tuning and may change before a resume.
    static nlohmann::json projectIdentity(const ProjectConfig &project, const QString &modelOverride);
    /// Why `current` is not the run recorded in `header`, naming the first difference; empty = same.
    static QString mismatch(const nlohmann::json &header, const Identity &current);

    /// Reads the journal and the two outputs, repairs torn last lines, finishes an interrupted errors
    /// rewrite, and returns the progress. The outputs must not be shorter than the journal says.
    static Result<State> recover(const QString &journalPath, const QString &resultsPath,
                                 const QString &errorsPath);
    /// A finished or stopped run's header, or an error when there is no readable journal.
    static Result<nlohmann::json> readHeader(const QString &journalPath);
    /// Whether `journalPath` holds a run that did not reach the end of its input, and then how many
    /// lines it had finished at its last checkpoint.
    static bool unfinishedRun(const QString &journalPath, qint64 *doneLines = nullptr);

    /// For --retry-errors: splits the errors file into records to run again (request failures) and
    /// records to keep (bad input lines, which would fail the same way). The kept ones are written to
    /// `<errors>.rewrite` (synced); the lines to run again are returned.
    static Result<LineSet> prepareRetry(const QString &errorsPath, qint64 *keptBytes, qint64 *keptRecords);
    static QString rewritePath(const QString &errorsPath);
    /// Replaces the errors file with its prepared rewrite (atomic rename).
    static Result<void> finishRewrite(const QString &errorsPath);

    /// Starts a new journal (replacing any) with its header, synced.
    Result<void> create(const QString &path, const Identity &identity, const QString &runId,
                        const QString &resultsPath, const QString &errorsPath);
    /// Continues an existing journal.
    Result<void> openAppend(const QString &path);
    bool isOpen() const { return m_file.isOpen(); }

    /// A record for `line` was written (to the results when `ok`).
    void markDone(qint64 line, bool ok);
    bool hasPending() const { return !m_pending.empty(); }
    qint64 ok() const { return m_ok; }
    qint64 failed() const { return m_failed; }
    void setTotals(qint64 ok, qint64 failed)
    {
        m_ok = ok;
        m_failed = failed;
    }
    /// Appends a checkpoint of the lines marked since the last one (the outputs must already be
    /// synced up to these sizes) and syncs the journal. `extra` keys are merged into it.
    Result<void> checkpoint(qint64 resultsBytes, qint64 errorsBytes,
                            const nlohmann::json &extra = nlohmann::json::object());
    Result<void> close();

    /// "[[1,5],[7,7]]"-style ranges of a list of lines (sorted here; duplicates merge).
    static nlohmann::json toRanges(std::vector<qint64> lines);
    /// The same for a LineSet.
    static nlohmann::json rangesOf(const LineSet &lines);

private:
    Result<void> append(const nlohmann::json &entry);

    QFile m_file;
    std::vector<qint64> m_pending;
    qint64 m_ok = 0;
    qint64 m_failed = 0;
};

/// fdatasync() of an open file; an Error naming it on failure.
Result<void> syncFile(QFile &file);

} // namespace Sluice

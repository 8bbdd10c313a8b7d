#pragma once

#include "engine/engine.h"

#include <QObject>
#include <QThread>

#include <vector>

namespace Sluice::Gui {

/// Runs an Engine on a worker thread for the GUI. The GUI thread never touches the engine directly:
/// commands are queued calls into the engine's thread, and the engine's batched snapshots (value types,
/// every 250 ms) arrive here as queued signals, so the window never blocks on the run.
class EngineController : public QObject
{
    Q_OBJECT

public:
    explicit EngineController(QObject *parent = nullptr);
    ~EngineController() override;

    /// Starts a run without blocking: the engine's start-up (keys, files, the input's fingerprint and
    /// line count, a resume's recovery: seconds on a multi-gigabyte input) runs on its thread and ends
    /// in started() or startFailed(). An Error now only when a run is already going.
    Result<void> start(const Sluice::ProjectConfig &project, const Sluice::RunOptions &options);
    void pause();
    void resume();
    void stop();
    void abort();
    /// Applies an endpoint's live-tunable values (weight, rpm, tpm, max in flight) within one tick.
    void retune(int endpoint, const Sluice::EndpointConfig &config);

    bool isActive() const { return m_engine != nullptr && m_state != Sluice::RunState::Finished; }
    Sluice::RunState state() const { return m_state; }
    /// The per-second history of the current or last run (copied from the engine's thread).
    std::vector<Sluice::SecondSample> history() const;
    QString errorsPath() const { return m_errorsPath; }
    /// The engine's snapshot right after it started (a resumed run's earlier records, ...).
    const Sluice::MetricsSnapshot &startSnapshot() const { return m_startSnapshot; }

Q_SIGNALS:
    /// The run is going; `snapshot` is the engine's right after its start.
    void started(const Sluice::MetricsSnapshot &snapshot);
    /// The engine refused to start (a missing key, an unreadable file, a resume that does not match);
    /// nothing was sent.
    void startFailed(const QString &reason);
    void snapshotReady(const Sluice::MetricsSnapshot &snapshot);
    void stateChanged(Sluice::RunState state);
    void finished(const Sluice::MetricsSnapshot &summary);
    void notice(const QString &message);

private:
    void release();
    void handleStart(Sluice::Engine *engine, const Result<void> &result,
                     const Sluice::MetricsSnapshot &snapshot);

    QThread m_thread;
    Sluice::Engine *m_engine = nullptr; ///< lives on m_thread; deleted there
    Sluice::RunState m_state = Sluice::RunState::Idle;
    QString m_errorsPath;
    Sluice::MetricsSnapshot m_startSnapshot;
};

} // namespace Sluice::Gui

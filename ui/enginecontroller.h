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

    /// Starts a run; blocks only for the engine's own start-up checks (keys, files).
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
    /// The engine's snapshot right after start() (a resumed run's earlier records, ...).
    const Sluice::MetricsSnapshot &startSnapshot() const { return m_startSnapshot; }

Q_SIGNALS:
    void snapshotReady(const Sluice::MetricsSnapshot &snapshot);
    void stateChanged(Sluice::RunState state);
    void finished(const Sluice::MetricsSnapshot &summary);
    void notice(const QString &message);

private:
    void release();

    QThread m_thread;
    Sluice::Engine *m_engine = nullptr; ///< lives on m_thread; deleted there
    Sluice::RunState m_state = Sluice::RunState::Idle;
    QString m_errorsPath;
    Sluice::MetricsSnapshot m_startSnapshot;
};

} // namespace Sluice::Gui

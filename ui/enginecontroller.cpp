#include "enginecontroller.h"

namespace Sluice::Gui {

EngineController::EngineController(QObject *parent)
    : QObject(parent)
{
    qRegisterMetaType<Sluice::MetricsSnapshot>();
    qRegisterMetaType<Sluice::RunState>();
    m_thread.setObjectName(QStringLiteral("engine"));
    m_thread.start();
}

EngineController::~EngineController()
{
    if (m_engine) {
        Sluice::Engine *engine = m_engine;
        QMetaObject::invokeMethod(
            engine, [engine] { engine->abort(); }, Qt::BlockingQueuedConnection);
    }
    release();
    m_thread.quit();
    m_thread.wait();
}

void EngineController::release()
{
    if (!m_engine) {
        return;
    }
    Sluice::Engine *engine = m_engine;
    m_engine = nullptr;
    QMetaObject::invokeMethod(
        engine, [engine] { delete engine; }, Qt::BlockingQueuedConnection);
}

Result<void> EngineController::start(const Sluice::ProjectConfig &project, const Sluice::RunOptions &options)
{
    if (isActive()) {
        return Error{Error::Code::InvalidConfig, QStringLiteral("a run is already going"), 0};
    }
    release();
    auto *engine = new Sluice::Engine(project, options); // moved to the worker thread, deleted there
    engine->moveToThread(&m_thread);
    connect(engine, &Sluice::Engine::snapshotReady, this, &EngineController::snapshotReady);
    connect(engine, &Sluice::Engine::notice, this, &EngineController::notice);
    connect(engine, &Sluice::Engine::stateChanged, this, [this](Sluice::RunState state) {
        m_state = state;
        Q_EMIT stateChanged(state);
    });
    connect(engine, &Sluice::Engine::finished, this, [this](const Sluice::MetricsSnapshot &summary) {
        m_state = Sluice::RunState::Finished;
        Q_EMIT finished(summary);
    });
    m_engine = engine;
    m_errorsPath = engine->errorsPath();
    m_state = Sluice::RunState::Idle;
    // Commands queued meanwhile (pause, stop) reach the engine after its start, in order. A reply
    // queued to a controller that is gone is dropped with it.
    QMetaObject::invokeMethod(
        engine,
        [this, engine] {
            const Result<void> result = engine->start();
            const Sluice::MetricsSnapshot snapshot = engine->snapshot();
            QMetaObject::invokeMethod(
                this, [this, engine, result, snapshot] { handleStart(engine, result, snapshot); },
                Qt::QueuedConnection);
        },
        Qt::QueuedConnection);
    return {};
}

void EngineController::handleStart(Sluice::Engine *engine, const Result<void> &result,
                                   const Sluice::MetricsSnapshot &snapshot)
{
    if (engine != m_engine) {
        return;
    }
    if (!result) {
        release();
        m_state = Sluice::RunState::Idle;
        Q_EMIT startFailed(result.error().message);
        return;
    }
    m_startSnapshot = snapshot;
    if (m_state == Sluice::RunState::Idle) {
        m_state = Sluice::RunState::Running;
    }
    Q_EMIT started(snapshot);
}

void EngineController::pause()
{
    if (Sluice::Engine *engine = m_engine) {
        QMetaObject::invokeMethod(
            engine, [engine] { engine->pause(); }, Qt::QueuedConnection);
    }
}

void EngineController::resume()
{
    if (Sluice::Engine *engine = m_engine) {
        QMetaObject::invokeMethod(
            engine, [engine] { engine->resume(); }, Qt::QueuedConnection);
    }
}

void EngineController::stop()
{
    if (Sluice::Engine *engine = m_engine) {
        QMetaObject::invokeMethod(
            engine, [engine] { engine->stop(); }, Qt::QueuedConnection);
    }
}

void EngineController::abort()
{
    if (Sluice::Engine *engine = m_engine) {
        QMetaObject::invokeMethod(
            engine, [engine] { engine->abort(); }, Qt::QueuedConnection);
    }
}

void EngineController::retune(int endpoint, const Sluice::EndpointConfig &config)
{
    Sluice::Engine *engine = m_engine;
    if (!engine) {
        return;
    }
    QMetaObject::invokeMethod(
        engine,
        [engine, endpoint, config] {
            const Sluice::EndpointConfig &now = engine->project().endpoints.at(endpoint);
            if (now.weight != config.weight) {
                engine->setEndpointWeight(endpoint, config.weight);
            }
            if (now.rpm != config.rpm) {
                engine->setEndpointRpm(endpoint, config.rpm);
            }
            if (now.tpm != config.tpm) {
                engine->setEndpointTpm(endpoint, config.tpm);
            }
            if (now.maxInFlight != config.maxInFlight) {
                engine->setEndpointMaxInFlight(endpoint, config.maxInFlight);
            }
        },
        Qt::QueuedConnection);
}

std::vector<Sluice::SecondSample> EngineController::history() const
{
    std::vector<Sluice::SecondSample> copy;
    if (Sluice::Engine *engine = m_engine) {
        QMetaObject::invokeMethod(
            engine, [&] { copy = engine->history(); }, Qt::BlockingQueuedConnection);
    }
    return copy;
}

} // namespace Sluice::Gui

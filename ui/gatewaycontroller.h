#pragma once

#include "config/projectconfig.h"
#include "gateway/gateway.h"
#include "metrics/metrics.h"

#include <QObject>
#include <QThread>

#include <memory>

namespace Sluice::Gui {

/// Runs a Gateway (its HTTP server and its serving engine) on a worker thread for the GUI, like
/// EngineController does for a batch run: the GUI thread never touches the gateway; its snapshots
/// arrive as queued signals and feed the same charts and endpoint table.
class GatewayController : public QObject
{
    Q_OBJECT

public:
    explicit GatewayController(QObject *parent = nullptr);
    ~GatewayController() override;

    /// Starts listening; blocks only for the start-up checks (keys, the port). The bound port.
    Result<quint16> start(const Sluice::ProjectConfig &project, const Sluice::GatewayOptions &options);
    /// Answers the waiting callers 503, lets the attempts in flight finish; stopped() follows.
    void stop();

    bool isActive() const { return m_gateway != nullptr; }
    quint16 port() const { return m_port; }

Q_SIGNALS:
    void snapshotReady(const Sluice::MetricsSnapshot &snapshot);
    void stopped();
    void notice(const QString &message);

private:
    void release();

    QThread m_thread;
    std::unique_ptr<QObject>
        m_anchor; ///< lives on m_thread: gateways are made there (deleted after it stops)
    Sluice::Gateway *m_gateway = nullptr; ///< lives on m_thread; deleted there
    quint16 m_port = 0;
};

} // namespace Sluice::Gui

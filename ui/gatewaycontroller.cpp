#include "gatewaycontroller.h"

namespace Sluice::Gui {

GatewayController::GatewayController(QObject *parent)
    : QObject(parent)
    , m_anchor(std::make_unique<QObject>())
{
    qRegisterMetaType<Sluice::MetricsSnapshot>();
    m_thread.setObjectName(QStringLiteral("gateway"));
    m_anchor->moveToThread(&m_thread);
    m_thread.start();
}

GatewayController::~GatewayController()
{
    release();
    m_thread.quit();
    m_thread.wait();
}

void GatewayController::release()
{
    if (!m_gateway) {
        return;
    }
    Sluice::Gateway *gateway = m_gateway;
    m_gateway = nullptr;
    m_port = 0;
    QMetaObject::invokeMethod(
        gateway, [gateway] { delete gateway; }, Qt::BlockingQueuedConnection);
}

Result<quint16> GatewayController::start(const Sluice::ProjectConfig &project,
                                         const Sluice::GatewayOptions &options)
{
    if (m_gateway) {
        return Error{Error::Code::InvalidConfig, QStringLiteral("the gateway is already running"), 0};
    }
    // Made on the worker thread, so that its server, sockets and engine live there.
    Sluice::Gateway *gateway = nullptr;
    Result<quint16> started = quint16(0);
    QMetaObject::invokeMethod(
        m_anchor.get(),
        [&] {
            gateway = new Sluice::Gateway(project, options);
            started = gateway->start();
        },
        Qt::BlockingQueuedConnection);
    if (!started) {
        QMetaObject::invokeMethod(
            gateway, [gateway] { delete gateway; }, Qt::BlockingQueuedConnection);
        return started;
    }
    m_gateway = gateway;
    m_port = *started;
    connect(gateway, &Sluice::Gateway::snapshotReady, this, &GatewayController::snapshotReady);
    connect(&gateway->engine(), &Sluice::Engine::notice, this, &GatewayController::notice);
    connect(gateway, &Sluice::Gateway::stopped, this, [this] {
        release();
        Q_EMIT stopped();
    });
    return started;
}

void GatewayController::stop()
{
    if (Sluice::Gateway *gateway = m_gateway) {
        QMetaObject::invokeMethod(
            gateway, [gateway] { gateway->stop(); }, Qt::QueuedConnection);
    }
}

} // namespace Sluice::Gui

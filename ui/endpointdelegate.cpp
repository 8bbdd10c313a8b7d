#include "endpointdelegate.h"

#include "models/endpointtablemodel.h"

#include <QComboBox>
#include <QLineEdit>

namespace Sluice::Gui {

QWidget *EndpointDelegate::createEditor(QWidget *parent, const QStyleOptionViewItem &option,
                                        const QModelIndex &index) const
{
    if (index.column() == EndpointTableModel::Provider) {
        auto *combo = new QComboBox(parent);
        combo->addItems({QStringLiteral("openai"), QStringLiteral("anthropic")});
        return combo;
    }
    if (index.column() == EndpointTableModel::Enabled) {
        return QStyledItemDelegate::createEditor(parent, option, index);
    }
    auto *edit = new QLineEdit(parent);
    edit->setFrame(false);
    return edit;
}

void EndpointDelegate::setEditorData(QWidget *editor, const QModelIndex &index) const
{
    if (auto *combo = qobject_cast<QComboBox *>(editor)) {
        combo->setCurrentText(index.data(Qt::EditRole).toString());
    } else if (auto *edit = qobject_cast<QLineEdit *>(editor)) {
        const QVariant value = index.data(Qt::EditRole);
        // Numbers as plain digits ("60000", not "60,000"), which the model reads back whatever the locale.
        edit->setText(value.typeId() == QMetaType::Double ? QString::number(value.toDouble(), 'g', 15)
                                                          : value.toString());
    } else {
        QStyledItemDelegate::setEditorData(editor, index);
    }
}

void EndpointDelegate::setModelData(QWidget *editor, QAbstractItemModel *model,
                                    const QModelIndex &index) const
{
    if (auto *combo = qobject_cast<QComboBox *>(editor)) {
        model->setData(index, combo->currentText(), Qt::EditRole);
    } else if (auto *edit = qobject_cast<QLineEdit *>(editor)) {
        model->setData(index, edit->text(), Qt::EditRole); // a refusal is announced by the model
    } else {
        QStyledItemDelegate::setModelData(editor, model, index);
    }
}

} // namespace Sluice::Gui

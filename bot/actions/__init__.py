"""Custom actions, served to Rasa over the rasa-sdk action protocol by the gateway."""

from rasa_sdk import Action

from .fallback import ActionAskAffirmation
from .faq import ActionAnswerFaq
from .handoff import ActionHandoff
from .order_form import ActionAskRefundItem, ActionAskRefundReason, ValidateOrderForm
from .orders import ActionOrderRequest, ActionRefundDispute, ActionStopOrderForm
from .services import ActionServices


def build_actions(services: ActionServices) -> list[Action]:
    return [
        ActionAnswerFaq(services),
        ActionHandoff(services),
        ActionAskAffirmation(services),
        ValidateOrderForm(services),
        ActionAskRefundItem(services),
        ActionAskRefundReason(services),
        ActionOrderRequest(services),
        ActionRefundDispute(services),
        ActionStopOrderForm(services),
    ]


__all__ = ["ActionServices", "build_actions"]

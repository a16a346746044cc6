"""A Rasa pipeline step that drops extracted entities whose value lacks the entity's shape.

DIET learns that digits are often order numbers and then tags every number ("what's 2 plus 2",
"the last 4 digits are 8889"). Entities whose shape is known are declared as regexes in the
training data (`regex: order_number`, `regex: email`, ...), which DIET also uses as features;
this step keeps an extracted entity of such a type only when its whole value matches one of
its regexes. Entities without a regex pass through. A shop with another order-number format
changes the regex in training_data/orders_nlu.yml, and this step follows it.
"""

from __future__ import annotations

import re
from collections import defaultdict
from functools import cached_property

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.extractors.regex_entity_extractor import RegexEntityExtractor
from rasa.shared.nlu.constants import ENTITIES, ENTITY_ATTRIBUTE_TYPE, ENTITY_ATTRIBUTE_VALUE
from rasa.shared.nlu.training_data.message import Message


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR, is_trainable=True)
class EntityShapeFilter(RegexEntityExtractor):
    """Learns the entity regexes like RegexEntityExtractor (and persists them the same way),
    but filters the entities earlier extractors found instead of adding its own."""

    @cached_property
    def _shapes(self) -> dict[str, list[re.Pattern[str]]]:
        flags = 0 if self.case_sensitive else re.IGNORECASE
        shapes: dict[str, list[re.Pattern[str]]] = defaultdict(list)
        for pattern in self.patterns:
            shapes[pattern["name"]].append(re.compile(pattern["pattern"], flags))
        return dict(shapes)

    def _has_shape(self, entity: dict[str, object]) -> bool:
        shapes = self._shapes.get(str(entity.get(ENTITY_ATTRIBUTE_TYPE)))
        if shapes is None:
            return True
        value = str(entity.get(ENTITY_ATTRIBUTE_VALUE, ""))
        return any(shape.fullmatch(value) for shape in shapes)

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            entities = message.get(ENTITIES)
            if entities:
                kept = [e for e in entities if self._has_shape(e)]
                if len(kept) != len(entities):
                    message.set(ENTITIES, kept, add_to_output=True)
        return messages

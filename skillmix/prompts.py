"""The SKILL-MIX prompts as named templates, rendered exactly as the reference implementation renders them.

A new prompt version is a new entry in `GENERATION_TEMPLATES` or `GRADING_TEMPLATES`, never an edit of an
existing one: records name the template they were made with, and old records must stay reproducible.

Template variables (Python `str.format` fields):
- `{topic}`: the topic, as written in the catalog.
- `{skills_str}`: the skill names joined by ", ".
- `{skills_defs_and_examples_simple}`: one line per skill, "**name**: definition For example, example".
- `{skills_defs}`: one line per skill, "**name**: definition".
- `{num_sentences_str}`: the sentence limit in words, "one sentence", "two sentences", ...
- `{student_answer}`: the answer being graded (grading templates only).
- `{rubric_items}`: the k+3 rubric criteria joined by ", " (grading templates only).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from skillmix.catalog import Skill
from skillmix.errors import InputError, UnknownNameError


@dataclass(frozen=True)
class GenerationTemplate:
    """The two user turns of a generation conversation: produce a text, then improve and shorten it."""

    turn1: str
    turn2: str


GENERATION_TEMPLATES: dict[str, GenerationTemplate] = {
    # The reference's prompts/generation/default.json, used for every generation in the paper.
    "default": GenerationTemplate(
        turn1=(
            "Greetings! I am interested in natural language processing and I was wondering if you could "
            "help me "
            "generate an example of text that illustrates multiple skills in semantics or syntax. The "
            "example "
            "should be a minimal natural piece of text with up to a few lines in the context of {topic} that "
            "illustrates all of the following skills: {skills_str}. Please keep the text as short as "
            "possible, "
            "and make sure the concepts can be found fully from the text. \n\n"
            "For reference, here are the definitions and examples for the concepts:\n"
            "{skills_defs_and_examples_simple}\n\n"
            "Please start the minimal natural piece of text with 'Answer:' and start the explanation with "
            "'Explanation:'.\n\nThanks very much!"
        ),
        turn2=(
            "Thanks very much. Could you please look over your answer and improve it? Please make sure that "
            "the "
            "new answer better illustrates all skills and remains on topic. On top of that, please also make "
            "sure the new answer only contains up to {num_sentences_str}. \n"
            "Again, please start the improved minimal natural piece of text with 'Answer:' and start the "
            "explanation with 'Explanation:'.\n\nThanks very much!"
        ),
    ),
}

_GRADING_PREAMBLE = (
    "Greetings! I was wondering if you could help me grade the following answer given by a student.\n\n"
    "I’ll first describe the question that was given to the student, and then give you the student’s answer, "
    "and the grading rubric.\n\n"
    'The question given to the student was as follows: "Give a single piece of text with up to '
    "{num_sentences_str} in the context of {topic}. This single piece of text should illustrate all of the "
    'following skills: {skills_str}."\n\n'
    'The student\'s answer was: "{student_answer}"\n\n'
)

GRADING_TEMPLATES: dict[str, str] = {
    # The reference's prompts/grade/gpt.json: asks for a rubric table (what the paper's GPT-4 grader used).
    "gpt": _GRADING_PREAMBLE
    + "For reference, here are the definitions for the skills:\n{skills_defs_and_examples_simple}\n\n"
    "Using a rubric table format, please grade the student's answer with positive scoring. Each criterion is "
    "worth 1 point. The criteria are: {rubric_items}. The table should only have the following columns: "
    "'Criteria', 'Points Earned'. In the 'Points Earned' column, please provide only numerical values with "
    "no "
    "additional formatting. Please introduce the table with 'Here's the grading table:' and please include a "
    "row for 'Total Points Earned' at the end of the table. Finally, please start your grading explanation "
    "with 'Explanation':",
    # The reference's prompts/grade/llama.json: asks for "Point earned: N" per item and a final "Grade: N";
    # the reference graded its llama2/mistral students with it (definitions only, no examples).
    "llama": _GRADING_PREAMBLE + "For reference, here are the definitions for the skills:\n{skills_defs}\n\n"
    "Please grade the student's answer using the following criteria: {rubric_items}. For each item in the "
    "rubric, please include in your evaluation 'Point earned: 1' if the requirement is met and 'Point "
    "earned: "
    "0' otherwise. Please finish your grading with 'Grade:' followed by a number indicating the total points "
    "earned by the student. Thanks so much.",
}

_ONES = (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
    "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen",
)  # fmt: skip
_TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]


def number_to_words(number: int) -> str:
    """English words for 0..99 ("two", "twenty-one"), as the reference's `inflect` writes them."""
    if not 0 <= number < 100:
        raise InputError(f"number_to_words handles 0..99, got {number}")
    if number < 20:
        return _ONES[number]
    tens, ones = divmod(number, 10)
    return _TENS[tens] + (f"-{_ONES[ones]}" if ones else "")


def sentence_limit(k: int) -> int:
    """At most max(1, k-1) sentences for k skills."""
    if k < 1:
        raise InputError(f"k must be at least 1, got {k}")
    return max(1, k - 1)


def sentences_phrase(k: int) -> str:
    """The sentence limit in words: "one sentence", "two sentences", ..."""
    limit = sentence_limit(k)
    return f"{number_to_words(limit)} {'sentences' if limit > 1 else 'sentence'}"


def rubric_criteria(skills: Sequence[Skill], topic: str) -> list[str]:
    """The k+3 rubric labels, in the order the grader is asked to score them."""
    return rubric_criteria_for_names([skill.name for skill in skills], topic)


def rubric_criteria_for_names(skill_names: Sequence[str], topic: str) -> list[str]:
    """`rubric_criteria` from the skill names alone (all a record holds)."""
    return [f"Correctly illustrates {name.strip().lower()}" for name in skill_names] + [
        f"Pertains to {topic}",
        "Text makes sense",
        f"At most {sentences_phrase(len(skill_names))}",
    ]


def render_generation_turn1(skills: Sequence[Skill], topic: str, template: str = "default") -> str:
    return _generation_template(template).turn1.format(**_skill_fields(skills, topic))


def render_generation_turn2(k: int, template: str = "default") -> str:
    return _generation_template(template).turn2.format(num_sentences_str=sentences_phrase(k))


def render_grading_prompt(skills: Sequence[Skill], topic: str, answer: str, template: str = "gpt") -> str:
    """The grader's prompt for `answer` (the extracted text, see `skillmix.answers.extract_answer`)."""
    if template not in GRADING_TEMPLATES:
        raise UnknownNameError(
            f"Unknown grading template {template!r}; known: {', '.join(GRADING_TEMPLATES)}"
        )
    return GRADING_TEMPLATES[template].format(
        **_skill_fields(skills, topic),
        student_answer=answer,
        rubric_items=", ".join(rubric_criteria(skills, topic)),
    )


def _generation_template(name: str) -> GenerationTemplate:
    if name not in GENERATION_TEMPLATES:
        raise UnknownNameError(
            f"Unknown generation template {name!r}; known: {', '.join(GENERATION_TEMPLATES)}"
        )
    return GENERATION_TEMPLATES[name]


def _skill_fields(skills: Sequence[Skill], topic: str) -> dict[str, str]:
    if not skills:
        raise InputError("a SKILL-MIX prompt needs at least one skill")
    return {
        "topic": topic,
        "skills_str": ", ".join(skill.name for skill in skills),
        "skills_defs_and_examples_simple": "\n".join(
            f"**{skill.name}**: {skill.definition} For example, {skill.example}" for skill in skills
        ),
        "skills_defs": "\n".join(f"**{skill.name}**: {skill.definition}" for skill in skills),
        "num_sentences_str": sentences_phrase(len(skills)),
    }

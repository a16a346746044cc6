// Live preview of a new entry while it is typed. Text only: textContent, never HTML.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const question = document.getElementById("f-question");
  const answer = document.getElementById("f-answer");
  const liveQuestion = document.getElementById("live-question");
  const liveAnswer = document.getElementById("live-answer");
  if (!question || !answer || !liveQuestion || !liveAnswer) return;
  const update = () => {
    liveQuestion.textContent = question.value;
    liveAnswer.textContent = answer.value;
  };
  question.addEventListener("input", update);
  answer.addEventListener("input", update);
  update();
});

"""Follow-up questions through the engine: the completed question gets the same answer."""


def test_an_elliptical_followup_gets_the_earlier_questions_answer_about_the_new_subject(engine):
    followup = engine.ask_followup("那元戎启行呢？", ["星尘智能交付了多少台？"])
    direct = engine.ask("元戎启行交付了多少台？")
    assert followup.question == "元戎启行交付了多少台？"
    assert followup.to_dict() == direct.to_dict()
    assert engine.ask("星尘智能交付了多少台？").answer != followup.answer or not followup.answerable

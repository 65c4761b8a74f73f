//! The full texts of the two consents a customer gives on their own page, in Russian and
//! English; `{store}` stands for the store's name.

use super::super::Lang;

/// The consent to the processing of personal data (152-ФЗ): required for a card.
pub(super) fn processing(lang: Lang, store: &str) -> Vec<String> {
    let paragraphs: &[&str] = match lang {
        Lang::Ru => &[
            "Я даю согласие магазину «{store}» и торговой сети, в которую он входит (далее — оператор), \
             на обработку моих персональных данных: номера мобильного телефона, а если я их указал — \
             имени, фамилии, даты рождения и адреса электронной почты, а также сведений о моих покупках, \
             начисленных, списанных и сгоревших бонусах.",
            "Цель обработки — участие в программе лояльности: выпуск и обслуживание бонусной карты, \
             начисление и списание бонусов, скидки по статусу карты, подтверждение номера телефона кодом \
             из SMS и ответы на мои обращения.",
            "Оператор вправе собирать, записывать, систематизировать, накапливать, хранить, уточнять, \
             использовать, обезличивать, блокировать и удалять эти данные, с использованием средств \
             автоматизации и без них. Данные не передаются третьим лицам, кроме SMS-провайдера, который \
             доставляет коды.",
            "Согласие действует до его отзыва. Я могу отозвать его на кассе или попросить удалить мои \
             данные на странице «Моя карта»; после отзыва бонусы не начисляются и не списываются.",
        ],
        Lang::En => &[
            "I consent to the store «{store}» and the chain it belongs to (the operator) processing my \
             personal data: my mobile phone number and, if I give them, my first and last name, birth \
             date and e-mail address, and the records of my purchases and of the bonuses accrued, spent \
             and burnt.",
            "The purpose is the loyalty program: issuing and serving the bonus card, accruing and \
             spending bonuses, the card status discounts, confirming the phone number with an SMS code, \
             and answering my requests.",
            "The operator may collect, record, organise, accumulate, store, update, use, anonymise, \
             block and delete this data, with and without automated means. The data is given to no \
             third party but the SMS provider that delivers the codes.",
            "The consent lasts until I withdraw it. I can withdraw it at the till or ask for my data to \
             be erased on the «My card» page; once withdrawn, bonuses are neither accrued nor spent.",
        ],
    };
    paragraphs
        .iter()
        .map(|p| p.replace("{store}", store))
        .collect()
}

/// The separate, optional consent to advertising SMS (38-ФЗ «О рекламе»).
pub(super) fn advertising(lang: Lang, store: &str) -> Vec<String> {
    let paragraphs: &[&str] = match lang {
        Lang::Ru => &[
            "Я согласен получать от магазина «{store}» и его торговой сети рекламные SMS на указанный \
             номер: об акциях, скидках, бонусах и новых товарах.",
            "Это согласие не обязательно: без него карта выпускается и работает так же. Я могу отказаться \
             от рекламных SMS в любой момент — на кассе или на странице «Моя карта».",
        ],
        Lang::En => &[
            "I agree to receive advertising SMS from the store «{store}» and its chain at this number: \
             about promotions, discounts, bonuses and new goods.",
            "This consent is optional: the card is issued and works the same without it. I can switch \
             advertising SMS off at any time, at the till or on the «My card» page.",
        ],
    };
    paragraphs
        .iter()
        .map(|p| p.replace("{store}", store))
        .collect()
}
